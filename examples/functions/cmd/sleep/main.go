// sleep waits functionConfig data.seconds (default 1) and returns its input unchanged.
package main

import (
	"fmt"
	"os"
	"time"

	"fnpool.dev/examples/functions/krm"
)

func main() {
	rl := krm.Read()
	seconds := krm.ConfigFloat(rl, "seconds", 1)
	fmt.Fprintf(os.Stderr, "sleep: sleeping %gs\n", seconds)
	time.Sleep(time.Duration(seconds * float64(time.Second)))
	krm.Write(rl)
}
