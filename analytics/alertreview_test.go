package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// auditLog is an Auditor that keeps what it was given, or fails when told to.
type auditLog struct {
	entries []auditEntry
	fail    error
}

type auditEntry struct {
	actor, action, subject string
	detail                 alertReviewDetail
}

func (l *auditLog) Record(_ context.Context, actor, action, subject string, detail any) error {
	if l.fail != nil {
		return l.fail
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	e := auditEntry{actor: actor, action: action, subject: subject}
	if err := json.Unmarshal(b, &e.detail); err != nil {
		return err
	}
	l.entries = append(l.entries, e)
	return nil
}

func TestReviewAlertRecordsWhoWhenWhyAndAudits(t *testing.T) {
	s, db := mustStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	mk := func(id string) Alert {
		return Alert{ID: id, Kind: AlertHitRate, SubjectKind: SubjectHS4Origin, Subject: "0803|VN", Port: "2229",
			DetectedAt: now, WindowFrom: now.AddDate(0, 0, -14), WindowTo: now, Observed: 0.5, Expected: 0.04,
			PValue: 1e-5, QValue: 1e-4, State: AlertOpen, Evidence: Evidence{RecentN: 10, RecentK: 5, ZH: "升", EN: "up"}}
	}
	if err := s.SaveAlerts(ctx, []Alert{mk("A-1"), mk("A-2")}); err != nil {
		t.Fatal(err)
	}
	audit := &auditLog{}
	at := now.Add(time.Minute)
	got, err := s.ReviewAlert(ctx, AlertAction{AlertID: "A-1", Action: ReviewAcknowledge, Actor: "hq", Comment: "  布控指令已下达 R12 ", At: at}, audit)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != AlertAcknowledged || got.Review == nil || got.Review.By != "hq" || got.Review.Comment != "布控指令已下达 R12" || !got.Review.At.Equal(at) {
		t.Fatalf("reviewed alert %+v (review %+v)", got, got.Review)
	}
	if len(audit.entries) != 1 {
		t.Fatalf("audit entries %+v, want one", audit.entries)
	}
	if e := audit.entries[0]; e.actor != "hq" || e.action != "alert.acknowledge" || e.subject != "alert:A-1" ||
		e.detail.From != AlertOpen || e.detail.To != AlertAcknowledged || e.detail.Comment != "布控指令已下达 R12" || e.detail.Subject != "0803|VN" {
		t.Fatalf("audit entry %+v", e)
	}

	states := func(state string) string {
		t.Helper()
		as, err := s.Alerts(ctx, AlertFilter{State: state})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range as {
			ids = append(ids, a.ID+"="+a.State)
		}
		return strings.Join(ids, ",")
	}
	if got := states(AlertOpen); got != "A-2=open" {
		t.Errorf("open alerts: %s", got)
	}
	if got := states(AlertAcknowledged); got != "A-1=acknowledged" {
		t.Errorf("acknowledged alerts: %s", got)
	}
	all, err := s.Alerts(ctx, AlertFilter{})
	if err != nil || len(all) != 2 {
		t.Fatalf("all alerts: %+v, %v", all, err)
	}
	for _, a := range all {
		if (a.ID == "A-1") != (a.Review != nil) {
			t.Errorf("alert %s review %+v", a.ID, a.Review)
		}
	}

	t.Run("re-detecting the same alert keeps its review", func(t *testing.T) {
		if err := s.SaveAlerts(ctx, []Alert{mk("A-1")}); err != nil {
			t.Fatal(err)
		}
		if got := states(AlertAcknowledged); got != "A-1=acknowledged" {
			t.Errorf("acknowledged alerts after re-detection: %s", got)
		}
	})
	t.Run("an acknowledged alert cannot be acknowledged again, but dismissed", func(t *testing.T) {
		_, err := s.ReviewAlert(ctx, AlertAction{AlertID: "A-1", Action: ReviewAcknowledge, Actor: "hq2", Comment: "again"}, audit)
		if !errors.Is(err, ErrState) {
			t.Fatalf("err = %v, want ErrState", err)
		}
		got, err := s.ReviewAlert(ctx, AlertAction{AlertID: "A-1", Action: ReviewDismiss, Actor: "hq2", Comment: "季节性波动，非新风险", At: at.Add(time.Minute)}, audit)
		if err != nil || got.State != AlertDismissed || got.Review.By != "hq2" {
			t.Fatalf("dismissed: %+v, %v", got, err)
		}
		if got := states(AlertDismissed); got != "A-1=dismissed" {
			t.Errorf("dismissed alerts: %s", got)
		}
		if _, err := s.ReviewAlert(ctx, AlertAction{AlertID: "A-1", Action: ReviewDismiss, Actor: "hq", Comment: "x"}, audit); !errors.Is(err, ErrState) {
			t.Fatalf("dismissing twice: err = %v, want ErrState", err)
		}
	})
	t.Run("a failing audit trail stores no review", func(t *testing.T) {
		before := db.Count(t, "alert_events", "")
		_, err := s.ReviewAlert(ctx, AlertAction{AlertID: "A-2", Action: ReviewAcknowledge, Actor: "hq", Comment: "x"}, &auditLog{fail: errors.New("chain down")})
		if err == nil || !strings.Contains(err.Error(), "chain down") {
			t.Fatalf("err = %v, want the audit failure", err)
		}
		if n := db.Count(t, "alert_events", ""); n != before {
			t.Fatalf("%d review events after a failed audit, want %d", n, before)
		}
		if got := states(AlertOpen); got != "A-2=open" {
			t.Errorf("open alerts: %s", got)
		}
	})
	for _, tt := range []struct {
		name string
		a    AlertAction
		want error
	}{
		{"an unknown action is invalid", AlertAction{AlertID: "A-2", Action: "close", Actor: "hq", Comment: "x"}, ErrInvalid},
		{"a blank comment is invalid", AlertAction{AlertID: "A-2", Action: ReviewAcknowledge, Actor: "hq", Comment: "  "}, ErrInvalid},
		{"a comment of more than 2000 characters is invalid", AlertAction{AlertID: "A-2", Action: ReviewAcknowledge, Actor: "hq", Comment: strings.Repeat("长", 2001)}, ErrInvalid},
		{"an unknown alert is not found", AlertAction{AlertID: "A-9", Action: ReviewAcknowledge, Actor: "hq", Comment: "x"}, ErrNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.ReviewAlert(ctx, tt.a, audit); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("an unknown state filter is invalid", func(t *testing.T) {
		if _, err := s.Alerts(ctx, AlertFilter{State: "closed"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}
