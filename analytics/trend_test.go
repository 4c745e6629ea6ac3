package analytics

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDailyTrend(t *testing.T) {
	s, _ := mustStore(t)
	loadLoop(t, s)
	ctx := context.Background()
	q := TrendQuery{From: day0, To: day0.Add(48 * time.Hour)}
	tests := []struct {
		name string
		port string
		want []TrendPoint
	}{
		// Day 0: A, B, C, D decided (4); A, B, D inspected (3); A and B concluded (D waits for its
		// lab); only B is a hit, because A's result was corrected to conforming.
		// Day 1: E, F, G decided; E and G inspected, concluded and hits.
		{"over all ports, latest versions only", "", []TrendPoint{
			{Day: day0, Declarations: 4, Inspected: 3, Results: 2, Hits: 1, InspectionRate: 0.75, HitRate: 0.5},
			{Day: day0.Add(24 * time.Hour), Declarations: 3, Inspected: 2, Results: 2, Hits: 2, InspectionRate: 2.0 / 3, HitRate: 1},
		}},
		{"one port", "2202", []TrendPoint{
			{Day: day0.Add(24 * time.Hour), Declarations: 1, Inspected: 1, Results: 1, Hits: 1, InspectionRate: 1, HitRate: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q.Port = tt.port
			got, err := s.DailyTrend(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if !got[i].Day.Equal(tt.want[i].Day) || got[i].Declarations != tt.want[i].Declarations ||
					got[i].Inspected != tt.want[i].Inspected || got[i].Results != tt.want[i].Results ||
					got[i].Hits != tt.want[i].Hits || got[i].InspectionRate != tt.want[i].InspectionRate ||
					got[i].HitRate != tt.want[i].HitRate {
					t.Errorf("day %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	t.Run("an empty period is invalid", func(t *testing.T) {
		if _, err := s.DailyTrend(ctx, TrendQuery{From: day0, To: day0}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}
