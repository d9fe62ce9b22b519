// Command failing-fn is a KRM function that always fails the way catalog functions do: it
// writes a ResourceList whose results hold one error to stdout, a message to stderr, and
// exits non-zero. FAIL_MESSAGE and FAIL_EXIT_CODE (env) change the message and exit code.
// When the input is JSON its items are passed through; YAML input yields no items (the
// standard library has no YAML parser and a failing function's items do not matter).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
)

func main() {
	message := os.Getenv("FAIL_MESSAGE")
	if message == "" {
		message = "failing-fn: this function always fails"
	}
	code := 1
	if v, err := strconv.Atoi(os.Getenv("FAIL_EXIT_CODE")); err == nil && v != 0 {
		code = v
	}
	input, _ := io.ReadAll(os.Stdin)
	var in struct {
		Items []json.RawMessage `json:"items"`
	}
	items := []json.RawMessage{}
	if json.Unmarshal(input, &in) == nil && in.Items != nil {
		items = in.Items
	}
	out := map[string]any{
		"apiVersion": "config.kubernetes.io/v1",
		"kind":       "ResourceList",
		"items":      items,
		"results": []map[string]any{
			{"message": message, "severity": "error"},
		},
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	fmt.Fprintln(os.Stderr, message)
	os.Exit(code)
}
