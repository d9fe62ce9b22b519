// set-label adds every functionConfig data pair as a label on every resource.
package main

import (
	"fmt"
	"os"

	"fnpool.dev/examples/functions/krm"
)

func main() {
	rl := krm.Read()
	pairs := krm.ConfigData(rl)
	if len(pairs) == 0 {
		krm.Fail("set-label: functionConfig data is empty: pass labels as KEY=VALUE")
	}
	items := krm.Get(rl, "items").Content
	for _, item := range items {
		labels := krm.Ensure(krm.Ensure(item, "metadata"), "labels")
		for _, kv := range pairs {
			krm.Set(labels, kv[0], krm.Str(kv[1]))
		}
	}
	fmt.Fprintf(os.Stderr, "set-label: set %d label(s) on %d resource(s)\n", len(pairs), len(items))
	krm.Write(rl)
}
