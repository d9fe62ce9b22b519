// Command sleep-fn is an identity KRM function that sleeps first: it reads the ResourceList
// from stdin, waits, then writes it back unchanged on stdout. The delay (seconds, fractions
// allowed) comes from the functionConfig field `sleepSeconds` (found by a plain text match,
// YAML or JSON, so no YAML library is needed), else from env SLEEP_SECONDS, else 10.
// It exits 0 on SIGTERM before finishing the sleep only if told to by env EXIT_ON_TERM=1;
// otherwise the default signal action applies, like most functions.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

var sleepField = regexp.MustCompile(`"?sleepSeconds"?\s*:\s*"?([0-9]+(?:\.[0-9]+)?)"?`)

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sleep-fn: reading stdin:", err)
		os.Exit(1)
	}
	seconds := 10.0
	if v, err := strconv.ParseFloat(os.Getenv("SLEEP_SECONDS"), 64); err == nil {
		seconds = v
	}
	if m := sleepField.FindSubmatch(input); m != nil {
		if v, err := strconv.ParseFloat(string(m[1]), 64); err == nil {
			seconds = v
		}
	}
	if os.Getenv("EXIT_ON_TERM") == "1" {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		go func() {
			<-sigs
			os.Exit(0)
		}()
	}
	fmt.Fprintf(os.Stderr, "sleep-fn: sleeping %gs\n", seconds)
	time.Sleep(time.Duration(seconds * float64(time.Second)))
	if _, err := os.Stdout.Write(input); err != nil {
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "sleep-fn: done")
}
