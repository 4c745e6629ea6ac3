package targeting

import (
	"math/bits"
)

// ptable is an open-addressing hash table of profile sums keyed by a 64-bit key hash, with the
// sums stored inline. A Go map costs two or three cache misses per lookup on a table of a
// million enterprises (control word, key, value); here a lookup is usually one, since a slot
// holds key and sums together and linear probing stays within the line or the next. The
// decision path does ~25 profile lookups, so this matters. Not safe for concurrent use: the
// caller holds its shard's lock.
type ptable = otable[stat]

// otable is the open-addressing table, generic in the inline value.
type otable[V any] struct {
	slots []oslot[V] // key 0 marks an empty slot
	n     int
}

type oslot[V any] struct {
	key uint64
	st  V
}

// ptableMaxLoad is the load factor beyond which the table grows by half: between 0.53 and 0.8
// full, a probe sequence averages under three slots.
const ptableMaxLoad = 0.8

// fixKey keeps 0 free as the empty marker.
func fixKey(k uint64) uint64 {
	if k == 0 {
		return 1
	}
	return k
}

// home is the first slot for key: the high bits of the product with the size (no power of two
// needed, so the table can grow by half rather than double).
func (t *otable[V]) home(key uint64) int { return homeN(key, len(t.slots)) }

func homeN(key uint64, n int) int {
	hi, _ := bits.Mul64(key*0x9e3779b97f4a7c15, uint64(n))
	return int(hi)
}

// find returns the index of key's slot, or −1.
func (t *otable[V]) find(key uint64) int {
	if len(t.slots) == 0 {
		return -1
	}
	key = fixKey(key)
	i := t.home(key)
	for {
		s := &t.slots[i]
		if s.key == key {
			return i
		}
		if s.key == 0 {
			return -1
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// get returns key's sums.
func (t *otable[V]) get(key uint64) (V, bool) {
	if i := t.find(key); i >= 0 {
		return t.slots[i].st, true
	}
	var zero V
	return zero, false
}

// put stores st under key.
func (t *otable[V]) put(key uint64, st V) {
	if float64(t.n+1) > ptableMaxLoad*float64(len(t.slots)) {
		t.grow()
	}
	key = fixKey(key)
	i := t.home(key)
	for {
		s := &t.slots[i]
		if s.key == key {
			s.st = st
			return
		}
		if s.key == 0 {
			s.key, s.st = key, st
			t.n++
			return
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// del removes key, shifting later members of its probe run back so that no tombstones are
// needed (lookups stop at the first empty slot).
func (t *otable[V]) del(key uint64) {
	i := t.find(key)
	if i < 0 {
		return
	}
	n := len(t.slots)
	for {
		t.slots[i] = oslot[V]{}
		j := i
		for {
			if j++; j == n {
				j = 0
			}
			if t.slots[j].key == 0 {
				t.n--
				return
			}
			h := t.home(t.slots[j].key)
			// Move slot j into the hole at i unless its home lies cyclically in (i, j].
			if (i <= j && (h <= i || h > j)) || (i > j && h <= i && h > j) {
				t.slots[i] = t.slots[j]
				i = j
				break
			}
		}
	}
}

func (t *otable[V]) grow() {
	old := t.slots
	size := max(16, len(old)+len(old)/2)
	t.slots = make([]oslot[V], size)
	t.n = 0
	for _, s := range old {
		if s.key != 0 {
			t.put(s.key, s.st)
		}
	}
}

// each calls fn for every entry.
func (t *otable[V]) each(fn func(key uint64, st V)) {
	for _, s := range t.slots {
		if s.key != 0 {
			fn(s.key, s.st)
		}
	}
}
