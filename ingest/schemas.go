package ingest

import (
	"embed"
	"io/fs"
)

// The JSON Schemas (draft 2020-12) of the v1 messages. They are the published contract; the one
// copy lives here, embedded, and deploy/schemas points at this directory.
//
//go:embed schemas/*.json
var schemaFS embed.FS

// Schemas returns the JSON Schema documents by file name ("declaration.v1.json",
// "manifest.v1.json", "withdrawal.v1.json"); web serves them at /v1/schemas/{name}. The map is a
// fresh copy the caller may keep.
func Schemas() map[string][]byte {
	out := map[string][]byte{}
	entries, _ := fs.ReadDir(schemaFS, "schemas")
	for _, e := range entries {
		b, err := schemaFS.ReadFile("schemas/" + e.Name())
		if err == nil {
			out[e.Name()] = b
		}
	}
	return out
}
