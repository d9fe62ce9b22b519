// Tiny static test programs packed into images by tests/cluster/images.py.
// Standard library only, so building them needs nothing but the Go toolchain.
module fnpool.test/images

go 1.22
