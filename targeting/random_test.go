package targeting

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"math"
	"testing"
)

func TestRandomDrawMatchesStandardHMAC(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		salt string
		num  string
	}{
		{"a short key and a declaration number give the standard HMAC-SHA256 draw", []byte("k"), "random", "310120240000000001"},
		{"an empty key is still a valid HMAC key", nil, "random", "310120240000000002"},
		{"a key of exactly one block is used as is", make([]byte, 64), "R-1", "310120240000000003"},
		{"a key longer than a block is hashed first", make([]byte, 100), "R-2", "310120240000000004"},
		{"a very long number takes the slow path and agrees", []byte("k"), "random", string(make([]byte, 300))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := hmac.New(sha256.New, tc.key)
			m.Write([]byte(tc.salt + "\x00" + tc.num))
			want := toUnit(m.Sum(nil)[:8])
			if got := RandomDraw(tc.key, tc.salt, tc.num); got != want {
				t.Fatalf("RandomDraw = %v, want %v", got, want)
			}
		})
	}
}

func TestRandomDrawIsReproducibleAndItsRateMatchesWithinABinomialBound(t *testing.T) {
	key := []byte("audit-key")
	const n = 100000
	for _, rate := range []float64{0.02, 0.10, 0.30} {
		hits := 0
		for i := 0; i < n; i++ {
			num := fmt.Sprintf("3101%014d", i)
			u := RandomDraw(key, saltRandom, num)
			if u < 0 || u >= 1 {
				t.Fatalf("draw %v outside [0,1)", u)
			}
			if u2 := RandomDraw(key, saltRandom, num); u2 != u {
				t.Fatalf("draw for %s not reproducible: %v then %v", num, u, u2)
			}
			if u < rate {
				hits++
			}
		}
		// 4.5 standard deviations: a correct uniform draw fails this about once in 150,000 runs.
		sd := math.Sqrt(n * rate * (1 - rate))
		if d := math.Abs(float64(hits) - n*rate); d > 4.5*sd {
			t.Errorf("rate %.2f: %d of %d selected, expected %.0f ± %.0f", rate, hits, n, n*rate, 4.5*sd)
		}
	}
}

func TestRandomDrawDependsOnKeyAndSalt(t *testing.T) {
	a := RandomDraw([]byte("k1"), "random", "310120240000000001")
	if b := RandomDraw([]byte("k2"), "random", "310120240000000001"); a == b {
		t.Errorf("a different key gave the same draw %v", a)
	}
	if b := RandomDraw([]byte("k1"), "R-7", "310120240000000001"); a == b {
		t.Errorf("a different salt gave the same draw %v", a)
	}
}

func BenchmarkRandomDraw(b *testing.B) {
	key := []byte("0123456789abcdef0123456789abcdef")
	b.ReportAllocs()
	for b.Loop() {
		RandomDraw(key, saltRandom, "310120240000000001")
	}
}

func TestThePrecomputedDrawerAgreesWithRandomDraw(t *testing.T) {
	for _, key := range [][]byte{DevRandomKey, []byte("k"), make([]byte, 100)} {
		d := newDrawer(key)
		for i := 0; i < 500; i++ {
			salt, number := []string{"random", "explore", "R-JP-FISH", ""}[i%4], fmt.Sprintf("%018d", i*7919)
			if got, want := d.draw(salt, number), RandomDraw(key, salt, number); got != want {
				t.Fatalf("key %q salt %q number %s: drawer %v, RandomDraw %v", key, salt, number, got, want)
			}
		}
	}
}
