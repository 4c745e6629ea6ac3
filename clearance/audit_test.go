package clearance

import (
	"strings"
	"testing"
	"time"
)

func chainOf(n int) []AuditRecord {
	var out []AuditRecord
	prev := AuditRecord{}
	at := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		r := AuditRecord{Seq: uint64(i), At: at.Add(time.Duration(i) * time.Minute), Actor: "officer1", Action: AuditResult,
			Subject: "220120260000000001-1", Detail: `{"n":` + strings.Repeat("1", i) + `}`, PrevHash: prev.Hash}
		r.Hash = HashRecord(r)
		out = append(out, r)
		prev = r
	}
	return out
}

func TestHashRecordChangesWithEveryField(t *testing.T) {
	base := chainOf(2)[1]
	h := HashRecord(base)
	if len(h) != 64 {
		t.Fatalf("hash %q is not hex SHA-256", h)
	}
	mutations := map[string]func(*AuditRecord){
		"changing the seq":      func(r *AuditRecord) { r.Seq++ },
		"changing the time":     func(r *AuditRecord) { r.At = r.At.Add(time.Second) },
		"changing the actor":    func(r *AuditRecord) { r.Actor = "officer2" },
		"changing the action":   func(r *AuditRecord) { r.Action = AuditOverride },
		"changing the subject":  func(r *AuditRecord) { r.Subject += "0" },
		"changing the detail":   func(r *AuditRecord) { r.Detail = `{"n":2}` },
		"changing the previous": func(r *AuditRecord) { r.PrevHash = strings.Repeat("0", 64) },
		"moving a character from actor to action": func(r *AuditRecord) {
			r.Actor, r.Action = r.Actor[:len(r.Actor)-1], r.Actor[len(r.Actor)-1:]+r.Action
		},
	}
	for name, mut := range mutations {
		t.Run(name+" changes the hash", func(t *testing.T) {
			r := base
			mut(&r)
			if HashRecord(r) == h {
				t.Fatal("hash unchanged")
			}
		})
	}
	t.Run("the stored hash itself and sub-second time do not enter the hash", func(t *testing.T) {
		r := base
		r.Hash = "x"
		r.At = r.At.Add(300 * time.Millisecond)
		if HashRecord(r) != h {
			t.Fatal("hash changed")
		}
	})
}

func TestCheckLinkNamesWhatBroke(t *testing.T) {
	c := chainOf(4)
	for i := range c {
		prev := AuditRecord{}
		if i > 0 {
			prev = c[i-1]
		}
		if why := checkLink(prev, c[i]); why != "" {
			t.Fatalf("intact chain broken at %d: %s", c[i].Seq, why)
		}
	}
	tampered := c[2]
	tampered.Detail = `{"n":0}`
	cases := []struct {
		name       string
		prev, r    AuditRecord
		wantReason string
	}{
		{"a changed detail breaks its own hash", c[1], tampered, "content"},
		{"a missing record breaks the sequence", c[1], c[3], "expected seq 3"},
		{"a record rehashed after a change breaks the next link", func() AuditRecord { r := tampered; r.Hash = HashRecord(r); return r }(), c[3], "prev_hash"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			why := checkLink(tc.prev, tc.r)
			if !strings.Contains(why, tc.wantReason) {
				t.Fatalf("reason %q does not mention %q", why, tc.wantReason)
			}
		})
	}
}
