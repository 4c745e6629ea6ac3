package analytics

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTrend(t *testing.T) {
	s, _ := mustStore(t)
	loadLoop(t, s)
	ctx := context.Background()
	from, to := day0, day0.Add(48*time.Hour)
	type row struct {
		period           time.Time
		group            string
		decl, insp, hits uint64
		revenue          float64
	}
	tests := []struct {
		name string
		req  TrendRequest
		want []row
	}{
		{"by day and channel", TrendRequest{From: from, To: to, GroupBy: []Dimension{DimChannel}}, []row{
			{day0, "GREEN", 1, 0, 0, 0}, {day0, "RED", 2, 2, 0, 0}, {day0, "YELLOW", 1, 1, 1, 1200},
			{day0.Add(24 * time.Hour), "GREEN", 1, 0, 0, 0}, {day0.Add(24 * time.Hour), "RED", 2, 2, 2, 2400},
		}},
		{"by week and HS chapter, one port", TrendRequest{From: from, To: to, Interval: Week, GroupBy: []Dimension{DimHS2}, Filters: map[Dimension][]string{DimPort: {"2201"}}}, []row{
			{day0, "03", 6, 4, 2, 2400},
		}},
		{"filtered by an array dimension and a channel, by month", TrendRequest{From: from, To: to, Interval: Month, Filters: map[Dimension][]string{DimOrigin: {"NO", "VN"}, DimChannel: {"RED"}}}, []row{
			{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "", 4, 4, 2, 2400},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Trend(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rows) != len(tt.want) || res.Truncated {
				t.Fatalf("got %+v, want %+v", res.Rows, tt.want)
			}
			for i, w := range tt.want {
				r := res.Rows[i]
				g := strings.Join(r.Group, "|")
				if !r.Period.Equal(w.period) || g != w.group || r.Declarations != w.decl || r.Inspected != w.insp || r.Hits != w.hits || r.Revenue != w.revenue {
					t.Errorf("row %d = %+v, want %+v", i, r, w)
				}
			}
		})
	}
	t.Run("a row limit truncates and says so", func(t *testing.T) {
		res, err := s.Trend(ctx, TrendRequest{From: from, To: to, GroupBy: []Dimension{DimChannel}, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rows) != 2 || !res.Truncated {
			t.Fatalf("rows=%d truncated=%v, want 2 and true", len(res.Rows), res.Truncated)
		}
		var buf bytes.Buffer
		if err := res.WriteCSV(&buf); err != nil {
			t.Fatal(err)
		}
		want := "period,channel,declarations,inspected,results,hits,revenue,inspection_rate,hit_rate\n" +
			"2026-03-02,GREEN,1,0,0,0,0.00,0.000000,0.000000\n2026-03-02,RED,2,2,1,0,0.00,1.000000,0.000000\n"
		if buf.String() != want {
			t.Fatalf("csv:\n%s\nwant:\n%s", buf.String(), want)
		}
	})
	invalid := []struct {
		name string
		req  TrendRequest
	}{
		{"an unknown group-by field is refused", TrendRequest{From: from, To: to, GroupBy: []Dimension{"declaration_no; DROP TABLE decisions"}}},
		{"an unknown filter field is refused", TrendRequest{From: from, To: to, Filters: map[Dimension][]string{"1=1 OR port": {"x"}}}},
		{"an unknown interval is refused", TrendRequest{From: from, To: to, Interval: "hour"}},
		{"a reversed period is refused", TrendRequest{From: to, To: from}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Trend(ctx, tt.req); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}
