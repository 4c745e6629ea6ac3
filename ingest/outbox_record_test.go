package ingest

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzReadOutboxRecord: the sliced reading of a journal line gives what encoding/json gives,
// for any topic, key and value frameOutbox writes.
func FuzzReadOutboxRecord(f *testing.F) {
	f.Add("portguard.decisions", "220120261000000001", []byte(`{"a":[1,2,{"b":"}"}]}`))
	f.Add(`t"\q`, "k\\\"\n\u2028<&>", []byte(`"x"`))
	f.Add("", "", []byte(`null`))
	f.Add("t", `"`, []byte(` { "spaced" : true } `))
	f.Fuzz(func(t *testing.T, topic, key string, value []byte) {
		if !json.Valid(value) {
			return
		}
		framed, err := frameOutbox(nil, []Message{{Topic: topic, Key: key, Value: json.RawMessage(value)}})
		if err != nil {
			t.Fatal(err)
		}
		// The journal line: "crc kind record\n".
		line := bytes.TrimSuffix(framed, []byte("\n"))
		line = line[bytes.IndexByte(line, ' ')+1:]
		line = line[bytes.IndexByte(line, ' ')+1:]
		got, err := readOutboxRecord(line)
		if err != nil {
			t.Fatalf("readOutboxRecord(%q): %v", line, err)
		}
		var want outboxRecord
		if err := json.Unmarshal(line, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("readOutboxRecord(%q) = %+v, encoding/json reads %+v", line, got, want)
		}
	})
}

// TestFrameLenIsWhatAppendFrameAppends: frameOutbox sizes its output with frameLen.
func TestFrameLenIsWhatAppendFrameAppends(t *testing.T) {
	for _, c := range []string{"", "{}", `{"t":"x","k":"","v":{"a":"中文"}}`} {
		for _, kind := range []string{outboxKind, "declaration"} {
			if got, want := len(appendFrame(nil, kind, []byte(c))), frameLen(kind, []byte(c)); got != want {
				t.Errorf("frame of %q (%s): %d bytes, frameLen says %d", c, kind, got, want)
			}
		}
	}
}
