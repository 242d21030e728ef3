// Command opennimble is an open, self-hostable server for the Amazon Nimble
// Studio API.
//
//	opennimble serve                 # run the server on 127.0.0.1:8080, data in ./data
//	opennimble credentials create --principal-id alice
//	opennimble --help
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "opennimble:", err)
		os.Exit(1)
	}
}
