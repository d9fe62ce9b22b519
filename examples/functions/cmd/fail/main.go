// fail always fails: it reports a structured error result on stdout and exits 1.
package main

import (
	"fmt"
	"os"

	"fnpool.dev/examples/functions/krm"
	"gopkg.in/yaml.v3"
)

func main() {
	rl := krm.Read()
	result := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	krm.Set(result, "message", krm.Str("this function always fails"))
	krm.Set(result, "severity", krm.Str("error"))
	krm.Set(rl, "results", &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{result}})
	fmt.Fprintln(os.Stderr, "fail: failing on purpose")
	krm.Write(rl)
	os.Exit(1)
}
