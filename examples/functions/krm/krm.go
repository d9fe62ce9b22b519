// Package krm holds the little the example functions share: read a ResourceList from stdin,
// look into YAML mappings, and write the ResourceList back to stdout.
package krm

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Read parses the ResourceList on stdin, keeping key order and comments of the manifests.
func Read() *yaml.Node {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		Fail("reading stdin: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		Fail("stdin is not YAML: %v", err)
	}
	if len(doc.Content) != 1 || Get(doc.Content[0], "kind").Value != "ResourceList" {
		Fail("stdin is not a ResourceList")
	}
	return doc.Content[0]
}

// Write prints the ResourceList to stdout in block style, whatever style the input had.
func Write(rl *yaml.Node) {
	blockStyle(rl)
	enc := yaml.NewEncoder(os.Stdout)
	enc.SetIndent(2)
	if err := enc.Encode(rl); err != nil {
		Fail("writing stdout: %v", err)
	}
}

func blockStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 && n.Tag == "!!str" {
		n.Style = 0
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// Get returns the value under key in a mapping node, or an empty node.
func Get(m *yaml.Node, key string) *yaml.Node {
	if m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i+1]
			}
		}
	}
	return &yaml.Node{}
}

// Ensure returns the mapping under key, creating it when missing.
func Ensure(m *yaml.Node, key string) *yaml.Node {
	if v := Get(m, key); v.Kind == yaml.MappingNode {
		return v
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	Set(m, key, v)
	return v
}

// Set puts value under key in a mapping node, replacing any previous value.
func Set(m *yaml.Node, key string, value *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = value
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, value)
}

// Str makes a string scalar node.
func Str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// ConfigData returns the functionConfig's data as ordered key/value pairs.
func ConfigData(rl *yaml.Node) [][2]string {
	data := Get(Get(rl, "functionConfig"), "data")
	var pairs [][2]string
	for i := 0; i+1 < len(data.Content); i += 2 {
		pairs = append(pairs, [2]string{data.Content[i].Value, data.Content[i+1].Value})
	}
	return pairs
}

// ConfigFloat reads a number from the functionConfig's data, or def when absent.
func ConfigFloat(rl *yaml.Node, key string, def float64) float64 {
	for _, kv := range ConfigData(rl) {
		if kv[0] == key {
			f, err := strconv.ParseFloat(kv[1], 64)
			if err != nil {
				Fail("functionConfig data.%s: not a number: %q", key, kv[1])
			}
			return f
		}
	}
	return def
}

// Fail reports a usage problem on stderr and exits 1.
func Fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
