package clearance

import (
	"testing"

	"github.com/portguard/portguard/targeting"
)

func TestDrawIsReproducibleFromTheKeyAndTaskID(t *testing.T) {
	key := []byte("k")
	cands := []string{"a", "b", "c", "d"}
	first, seed := DrawOfficer(key, "220120260000000001-1", 1, cands)
	again, seed2 := DrawOfficer(key, "220120260000000001-1", 1, cands)
	if first != again || seed != seed2 {
		t.Fatalf("same inputs drew %s/%x then %s/%x", first, seed, again, seed2)
	}
	if cands[seed%4] != first {
		t.Fatalf("chosen %s is not candidates[seed mod n]", first)
	}
	if _, other := DrawOfficer([]byte("other key"), "220120260000000001-1", 1, cands); other == seed {
		t.Fatal("another key gave the same seed")
	}
	if _, redraw := DrawOfficer(key, "220120260000000001-1", 2, cands); redraw == seed {
		t.Fatal("a second attempt gave the same seed")
	}
	if c, _ := DrawOfficer(key, "x", 1, nil); c != "" {
		t.Fatalf("drew %q from nobody", c)
	}
}

func TestDrawsSpreadOverCandidates(t *testing.T) {
	cands := []string{"a", "b", "c", "d", "e"}
	n := map[string]int{}
	for i := 0; i < 5000; i++ {
		c, _ := DrawOfficer([]byte("k"), "task-"+itoa(i), 1, cands)
		n[c]++
	}
	for _, c := range cands {
		// Expected 1000 each; 5 standard deviations ≈ 140.
		if n[c] < 860 || n[c] > 1140 {
			t.Errorf("officer %s drawn %d times of 5000, want about 1000: %v", c, n[c], n)
		}
	}
}

func itoa(i int) string {
	var b [20]byte
	p := len(b)
	for {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[p:])
		}
	}
}

func TestQualificationComesFromTheMostSpecificHSRange(t *testing.T) {
	c := DefaultConfig()
	c.DefaultQualification = "general"
	cases := []struct {
		name     string
		features []targeting.Feature
		want     string
	}{
		{"frozen fish needs animal quarantine", []targeting.Feature{{Name: "hs4", Value: "0303"}}, QualAnimal},
		{"cut flowers need plant quarantine", []targeting.Feature{{Name: "hs10", Value: "0603110000"}}, QualPlant},
		{"wood needs plant quarantine although chapter 44 is also in the industrial range", []targeting.Feature{{Name: "hs2", Value: "44"}}, QualPlant},
		{"laptops need industrial goods", []targeting.Feature{{Name: "hs6", Value: "847130"}}, QualIndustrial},
		{"no HS feature falls back to the default", []targeting.Feature{{Name: "importer", Value: "0303"}}, "general"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.qualificationFor(&targeting.Decision{Features: tc.features}); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLabHoldFollowsTheStrictestFinding(t *testing.T) {
	c := DefaultConfig()
	cases := []struct {
		name string
		fs   []Finding
		want LabHold
	}{
		{"routine sampling without findings is released under bond", nil, LabBond},
		{"a suspected pest holds the goods", []Finding{{Code: FindQuarantinePest}}, LabHeld},
		{"a labelling problem is released under bond", []Finding{{Code: FindLabelling}}, LabBond},
		{"one holding finding among bonded ones holds", []Finding{{Code: FindLabelling}, {Code: FindQualitySafety}}, LabHeld},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.labHold(tc.fs); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPriorityPutsRedAndRulesFirst(t *testing.T) {
	red := &targeting.Decision{Channel: targeting.Red, Probability: 0.1}
	redRule := &targeting.Decision{Channel: targeting.Red, Probability: 0.1, RulesFired: []targeting.RuleHit{{ID: "R1", Selected: true}}}
	yellow := &targeting.Decision{Channel: targeting.Yellow, Probability: 0.99}
	if !(priority(redRule) > priority(red) && priority(red) > priority(yellow)) {
		t.Fatalf("priorities red+rule %d, red %d, yellow %d", priority(redRule), priority(red), priority(yellow))
	}
}
