package targeting

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// pshard is one shard of the profile store: an open-addressing table (see otable) read
// without locking. Decisions read ~25 profiles each from every core; a read lock would make
// every read write a shared cache line. Instead writers (labels, under mu) make a sequence
// counter odd while they change the table, and readers retry when the counter moved. All
// fields are read and written atomically, so that the retry is the only consequence of a race.
type pshard struct {
	mu  sync.Mutex
	seq atomic.Uint64
	tab atomic.Pointer[atable]
	n   int // entries, under mu
	_   [32]byte
}

type atable struct{ slots []aslot }

type aslot struct{ key, h, n, t atomic.Uint64 } // key 0: empty; h, n float64 bits; t unix seconds

// lookup returns key's slot index or −1; the caller validates the read with the sequence.
func (t *atable) lookup(key uint64) int {
	n := len(t.slots)
	if n == 0 {
		return -1
	}
	key = fixKey(key)
	i := homeN(key, n)
	for probes := 0; probes < n; probes++ {
		k := t.slots[i].key.Load()
		if k == key {
			return i
		}
		if k == 0 {
			return -1
		}
		if i++; i == n {
			i = 0
		}
	}
	return -1 // only while a writer is mid-change; the sequence check discards it
}

// get returns key's sums.
func (s *pshard) get(key uint64) (stat, bool) {
	for spin := 0; ; spin++ {
		s1 := s.seq.Load()
		if s1&1 == 0 {
			t := s.tab.Load()
			var st stat
			ok := false
			if t != nil {
				if i := t.lookup(key); i >= 0 {
					sl := &t.slots[i]
					st = stat{h: math.Float64frombits(sl.h.Load()), n: math.Float64frombits(sl.n.Load()), t: int64(sl.t.Load())}
					ok = true
				}
			}
			if s.seq.Load() == s1 {
				return st, ok
			}
		}
		if spin > 64 {
			runtime.Gosched() // the writer was descheduled mid-change
		}
	}
}

// set stores st under key (n == 0 deletes). The caller holds mu.
func (s *pshard) set(key uint64, st stat) {
	s.seq.Add(1)
	defer s.seq.Add(1)
	t := s.tab.Load()
	if st.n == 0 {
		if t != nil {
			s.del(t, key)
		}
		return
	}
	if t == nil || float64(s.n+1) > ptableMaxLoad*float64(len(t.slots)) {
		t = s.grow(t)
	}
	key = fixKey(key)
	n := len(t.slots)
	i := homeN(key, n)
	for {
		sl := &t.slots[i]
		k := sl.key.Load()
		if k == key || k == 0 {
			sl.h.Store(math.Float64bits(st.h))
			sl.n.Store(math.Float64bits(st.n))
			sl.t.Store(uint64(st.t))
			if k == 0 {
				sl.key.Store(key)
				s.n++
			}
			return
		}
		if i++; i == n {
			i = 0
		}
	}
}

func (s *pshard) grow(old *atable) *atable {
	size := 16
	if old != nil {
		size = max(16, len(old.slots)+len(old.slots)/2)
	}
	t := &atable{slots: make([]aslot, size)}
	if old != nil {
		for i := range old.slots {
			o := &old.slots[i]
			k := o.key.Load()
			if k == 0 {
				continue
			}
			j := homeN(k, size)
			for t.slots[j].key.Load() != 0 {
				if j++; j == size {
					j = 0
				}
			}
			d := &t.slots[j]
			d.key.Store(k)
			d.h.Store(o.h.Load())
			d.n.Store(o.n.Load())
			d.t.Store(o.t.Load())
		}
	}
	s.tab.Store(t)
	return t
}

// del removes key by backward shift (see otable.del).
func (s *pshard) del(t *atable, key uint64) {
	i := t.lookup(key)
	if i < 0 {
		return
	}
	n := len(t.slots)
	move := func(dst, src int) {
		d, o := &t.slots[dst], &t.slots[src]
		d.key.Store(o.key.Load())
		d.h.Store(o.h.Load())
		d.n.Store(o.n.Load())
		d.t.Store(o.t.Load())
	}
	for {
		t.slots[i].key.Store(0)
		j := i
		for {
			if j++; j == n {
				j = 0
			}
			k := t.slots[j].key.Load()
			if k == 0 {
				s.n--
				return
			}
			h := homeN(k, n)
			if (i <= j && (h <= i || h > j)) || (i > j && h <= i && h > j) {
				move(i, j)
				i = j
				break
			}
		}
	}
}

// each calls fn for every entry; the caller holds mu.
func (s *pshard) each(fn func(key uint64, st stat)) {
	t := s.tab.Load()
	if t == nil {
		return
	}
	for i := range t.slots {
		sl := &t.slots[i]
		if k := sl.key.Load(); k != 0 {
			fn(k, stat{h: math.Float64frombits(sl.h.Load()), n: math.Float64frombits(sl.n.Load()), t: int64(sl.t.Load())})
		}
	}
}
