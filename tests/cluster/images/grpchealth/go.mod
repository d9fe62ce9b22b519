// A static server of grpc.health.v1 (status SERVING) for the readiness-probe tests; it stands
// in for the fnpool wrapper until that image exists. Separate module: it needs grpc.
module fnpool.test/images/grpchealth

go 1.24.0

require google.golang.org/grpc v1.78.0

require (
	golang.org/x/net v0.47.0 // indirect
	golang.org/x/sys v0.38.0 // indirect
	golang.org/x/text v0.31.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20251029180050-ab9386a59fda // indirect
	google.golang.org/protobuf v1.36.10 // indirect
)
