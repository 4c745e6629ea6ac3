package ingest

import (
	"strings"
	"time"
)

// FieldError is one validation problem: where, what kind, and a message in Chinese and English.
type FieldError struct {
	Path string `json:"path"` // e.g. "items[2].hs_code"
	Code string `json:"code"` // e.g. "required", "format", "check_digit", "range", "unknown"
	ZH   string `json:"zh"`
	EN   string `json:"en"`
}

// ValidationError lists every problem found in one message. Validation never stops at the first.
type ValidationError struct {
	Kind   string       // "declaration", "manifest", …
	Fields []FieldError // at least one
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid ")
	b.WriteString(e.Kind)
	b.WriteString(": ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Path)
		b.WriteString(": ")
		b.WriteString(f.EN)
	}
	return b.String()
}

// SchemaDeadLetterV1 identifies a dead-letter message.
const SchemaDeadLetterV1 = "portguard.dead-letter/v1"

// DeadLetter is what the dead-letter topic holds for a message that could not be accepted: the
// original bytes, where they came from, and why.
type DeadLetter struct {
	Schema      string `json:"schema"`
	SourceTopic string `json:"source_topic"`
	Partition   int    `json:"partition"`
	Offset      int64  `json:"offset"`
	Key         string `json:"key,omitempty"`
	Value       []byte `json:"value"` // the original bytes (base64 in JSON)
	// Truncated says Value holds only the first part of an oversized original.
	Truncated bool         `json:"truncated,omitempty"`
	Reason    string       `json:"reason"`
	Errors    []FieldError `json:"errors,omitempty"`
	At        time.Time    `json:"at"`
}
