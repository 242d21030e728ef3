package api

import (
	"embed"
	"io/fs"
)

// modelFiles is the service model this package is generated from, in
// botocore's layout (nimble/2020-08-01/service-2.json, paginators-1.json,
// waiters-2.json), written by cmd/nimblegen next to the code it generates.
//
//go:embed model
var modelFiles embed.FS

// Model returns the service model in botocore's data layout, rooted where
// ~/.aws/models or an AWS_DATA_PATH folder is: the very bytes the generated
// code was made from, so a client given these files speaks what the server
// serves.
func Model() fs.FS {
	sub, err := fs.Sub(modelFiles, "model")
	if err != nil {
		panic(err) // "model" is a valid path; fs.Sub fails only on invalid ones
	}
	return sub
}
