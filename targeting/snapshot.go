package targeting

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/portguard/portguard/targeting/gbdt"
)

// Snapshots hold what the engine has learnt — risk profiles, unit-value norms, the champion
// model, the capacity controllers, enterprise grades and the clocks — so that a restart is a
// read of one file instead of a replay of a year of history. Rules are not in it (the RuleStore
// keeps them), nor the memory of applied labels: a correction of a result applied before the
// snapshot is added after a restore without undoing its predecessor.
// Format 2: controllers keep their share correction and clock; 3: models keep revenue rates.
const snapshotMagic = "PGSNAP\x00\x04"

// ErrSnapshot is wrapped by Restore for a file that is not a valid snapshot.
var ErrSnapshot = errors.New("targeting: invalid snapshot")

// Snapshot writes the engine's learnt state to w. It may run while the engine decides and
// learns: each profile shard, norm shard and controller is copied under its own lock, so the
// snapshot is consistent per shard, not across them (a label landing meanwhile may be in some
// of its profiles and not others).
func (e *Engine) Snapshot(w io.Writer) error {
	st := e.state.Load()
	sw := &snapWriter{crc: crc32.NewIEEE()}
	sw.w = bufio.NewWriterSize(io.MultiWriter(w, sw.crc), 1<<16)
	sw.raw([]byte(snapshotMagic))
	sw.i64(e.clock.Load())
	sw.i64(e.seq.Load())

	m := st.model
	sw.str(m.version)
	sw.str(m.comb.Kind())
	sw.strs(m.attrs)
	sw.strs(m.measures)
	sw.f64(m.auc)
	sw.f64(m.precision)
	var comb []byte
	var err error
	switch c := m.comb.(type) {
	case *Logistic:
		comb, err = json.Marshal(c)
	case gbdtCombiner:
		comb, err = c.m.MarshalBinary()
	default:
		err = fmt.Errorf("combiner %s cannot be saved", m.comb.Kind())
	}
	if err != nil {
		return fmt.Errorf("targeting: snapshot model: %w", err)
	}
	sw.bytes(comb)
	sw.f64(m.revAll)
	rk := make([]string, 0, len(m.revRate))
	for k := range m.revRate {
		rk = append(rk, k)
	}
	slices.Sort(rk)
	sw.strs(rk)
	for _, k := range rk {
		sw.f64(m.revRate[k])
	}

	p := st.prof
	sw.u64(p.seed)
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		sw.u64(uint64(s.n))
		s.each(func(k uint64, v stat) {
			sw.u64(k)
			sw.f64(v.h)
			sw.f64(v.n)
			sw.i64(v.t)
		})
		s.mu.Unlock()
	}

	nm := st.norms
	sw.u64(nm.seed)
	for i := range nm.shards {
		s := &nm.shards[i]
		s.mu.RLock()
		sw.u64(uint64(s.m.n))
		s.m.each(func(k uint64, h *uvHist) {
			sw.u64(k)
			sw.f32(h.n)
			sw.f32(h.med)
			sw.f32(h.mad)
			sw.u8(h.stale)
			sw.bool(h.dirty)
			for _, c := range h.c {
				sw.f32(c)
			}
		})
		s.mu.RUnlock()
	}

	e.ctrlMu.Lock()
	ctrls := make(map[string]*controller, len(e.ctrls))
	for k, v := range e.ctrls {
		ctrls[k] = v
	}
	e.ctrlMu.Unlock()
	sw.u64(uint64(len(ctrls)))
	for port, c := range ctrls {
		sw.str(port)
		c.mu.Lock()
		sw.i64(int64(c.count))
		sw.f64(c.total)
		sw.f64(c.inc)
		sw.f64(c.grow)
		sw.f64(c.other)
		sw.f64(c.otherN)
		sw.f64(c.corr)
		sw.i64(c.last)
		sw.u64(c.red.Load())
		sw.u64(c.yellow.Load())
		sw.f64(c.volN)
		sw.i64(c.volFirst)
		sw.i64(c.volLast)
		nz := 0
		for b := range c.hist {
			if c.hist[b] != 0 {
				nz++
			}
		}
		sw.u64(uint64(nz))
		for b := range c.hist {
			if c.hist[b] != 0 {
				sw.u64(uint64(b))
				sw.f64(c.hist[b])
				sw.f32(c.lo[b])
				sw.f32(c.hi[b])
			}
		}
		c.mu.Unlock()
	}

	g := &e.grades
	sw.u64(g.seed)
	sw.strs(*g.names.Load())
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.RLock()
		sw.u64(uint64(len(s.m)))
		for k, v := range s.m {
			sw.u64(k)
			sw.u8(v)
		}
		s.mu.RUnlock()
	}
	if sw.err != nil {
		return fmt.Errorf("targeting: snapshot: %w", sw.err)
	}
	if err := sw.w.Flush(); err != nil {
		return fmt.Errorf("targeting: snapshot: %w", err)
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], sw.crc.Sum32())
	if _, err := w.Write(sum[:]); err != nil {
		return fmt.Errorf("targeting: snapshot: %w", err)
	}
	return nil
}

// Restore replaces the engine's learnt state with a snapshot written by Snapshot, atomically:
// decisions running meanwhile use the old state or the new, never a mix. On any error the engine
// is left as it was. The label memory starts empty.
func (e *Engine) Restore(r io.Reader) error {
	sr := &snapReader{crc: crc32.NewIEEE(), r: bufio.NewReaderSize(r, 1<<16)}
	magic := sr.raw(len(snapshotMagic))
	if sr.err == nil && string(magic) != snapshotMagic {
		return fmt.Errorf("%w: not a portguard targeting snapshot (format 3)", ErrSnapshot)
	}
	clock, seq := sr.i64(), sr.i64()

	m := &model{version: sr.str()}
	kind := sr.str()
	m.attrs, m.measures = sr.strs(), sr.strs()
	if len(m.attrs) > maxAttrSlots || len(m.measures) > maxMeasureSlots {
		return fmt.Errorf("%w: %d attribute and %d measure slots", ErrSnapshot, len(m.attrs), len(m.measures))
	}
	m.auc, m.precision = sr.f64(), sr.f64()
	comb := sr.bytes()
	m.revAll = sr.f64()
	if rk := sr.strs(); len(rk) > 0 {
		m.revRate = make(map[string]float64, len(rk))
		for _, k := range rk {
			m.revRate[k] = sr.f64()
		}
	}
	if sr.err != nil {
		return sr.fail()
	}
	switch kind {
	case CombinerLogistic:
		l := new(Logistic)
		if err := json.Unmarshal(comb, l); err != nil {
			return fmt.Errorf("%w: logistic model: %v", ErrSnapshot, err)
		}
		if len(l.Weights) != m.width() || len(l.Mean) != len(l.Weights) || len(l.Scale) != len(l.Weights) {
			if !(m.version == "v0-prior" && len(l.Weights) == numFixedSlots) {
				return fmt.Errorf("%w: logistic model of width %d for %d inputs", ErrSnapshot, len(l.Weights), m.width())
			}
		}
		m.comb = l
	case CombinerGBDT:
		gm := new(gbdt.Model)
		if err := gm.UnmarshalBinary(comb); err != nil {
			return fmt.Errorf("%w: trees model: %v", ErrSnapshot, err)
		}
		if gm.NumFeatures() != m.width() {
			return fmt.Errorf("%w: trees model of width %d for %d inputs", ErrSnapshot, gm.NumFeatures(), m.width())
		}
		m.comb = gbdtCombiner{m: gm}
	default:
		return fmt.Errorf("%w: unknown model kind %q", ErrSnapshot, kind)
	}

	st := e.newState(m)
	st.prof.seed = sr.u64()
	for i := range st.prof.shards {
		s := &st.prof.shards[i]
		n := sr.count(32)
		for j := 0; j < n && sr.err == nil; j++ {
			k := sr.u64()
			v := stat{h: sr.f64(), n: sr.f64(), t: sr.i64()}
			if !(v.n > 0 && v.h >= 0 && v.h <= v.n) {
				return fmt.Errorf("%w: profile sums %v", ErrSnapshot, v)
			}
			if st.prof.shard(k) != s {
				return fmt.Errorf("%w: profile key in the wrong shard", ErrSnapshot)
			}
			s.set(k, v)
		}
	}
	st.norms.seed = sr.u64()
	for i := range st.norms.shards {
		s := &st.norms.shards[i]
		n := sr.count(8 + 13 + 4*uvBins)
		for j := 0; j < n && sr.err == nil; j++ {
			k := sr.u64()
			h := &uvHist{n: sr.f32(), med: sr.f32(), mad: sr.f32(), stale: sr.u8(), dirty: sr.bool()}
			for b := range h.c {
				h.c[b] = sr.f32()
			}
			s.m.put(k, h)
		}
	}

	nc := sr.count(1)
	ctrls := make(map[string]*controller, nc)
	for i := 0; i < nc && sr.err == nil; i++ {
		port := sr.str()
		c := newController(e.cfg.ControllerHalfLife, e.cfg.ControllerHalfTime, e.cfg.VolumeHalfTime)
		c.count = int(sr.i64())
		c.total, c.inc, c.grow, c.other, c.otherN = sr.f64(), sr.f64(), sr.f64(), sr.f64(), sr.f64()
		c.corr, c.last = sr.f64(), sr.i64()
		c.red.Store(sr.u64())
		c.yellow.Store(sr.u64())
		c.volN, c.volFirst, c.volLast = sr.f64(), sr.i64(), sr.i64()
		c.publishVolume()
		nz := sr.count(20)
		for j := 0; j < nz && sr.err == nil; j++ {
			b := sr.u64()
			if b >= ctrlBins {
				return fmt.Errorf("%w: controller bin %d", ErrSnapshot, b)
			}
			c.hist[b], c.lo[b], c.hi[b] = sr.f64(), sr.f32(), sr.f32()
		}
		ctrls[port] = c
	}

	gseed := sr.u64()
	names := sr.strs()
	var gshards [len(e.grades.shards)]map[uint64]uint8
	for i := range gshards {
		n := sr.count(9)
		gshards[i] = make(map[uint64]uint8, n)
		for j := 0; j < n && sr.err == nil; j++ {
			k, v := sr.u64(), sr.u8()
			if int(v) >= len(names) {
				return fmt.Errorf("%w: grade index %d", ErrSnapshot, v)
			}
			gshards[i][k] = v
		}
	}
	if sr.err != nil {
		return sr.fail()
	}
	want := sr.crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(sr.r, sum[:]); err != nil {
		return fmt.Errorf("%w: missing checksum: %v", ErrSnapshot, err)
	}
	if binary.LittleEndian.Uint32(sum[:]) != want {
		return fmt.Errorf("%w: checksum mismatch (damaged file)", ErrSnapshot)
	}
	if len(names) == 0 || names[0] != "" {
		return fmt.Errorf("%w: grade names", ErrSnapshot)
	}

	// Everything read and checked: swap it in.
	g := &e.grades
	g.namesM.Lock()
	for i := range g.shards {
		g.shards[i].mu.Lock()
	}
	g.seed = gseed
	g.names.Store(&names)
	for i := range g.shards {
		g.shards[i].m = gshards[i]
		g.shards[i].mu.Unlock()
	}
	g.namesM.Unlock()
	e.ctrlMu.Lock()
	e.state.Store(st)
	e.ctrls = ctrls
	e.publishCtrls()
	e.ctrlMu.Unlock()
	e.advance(clock)
	for {
		c := e.seq.Load()
		if seq <= c || e.seq.CompareAndSwap(c, seq) {
			break
		}
	}
	return nil
}

// SnapshotFile writes a snapshot to path atomically (see WriteFileAtomic).
func (e *Engine) SnapshotFile(path string) error {
	return WriteFileAtomic(path, e.Snapshot)
}

// RestoreFile restores a snapshot from path. A missing file returns an error satisfying
// errors.Is(err, fs.ErrNotExist).
func (e *Engine) RestoreFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("targeting: restore: %w", err)
	}
	defer f.Close()
	if err := e.Restore(f); err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	return nil
}

// WriteFileAtomic writes a file so that readers (and a restart after a crash) see either the
// old content or the complete new one: it writes a temporary file in the same directory, syncs
// it, renames it over path and syncs the directory.
func WriteFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("targeting: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("targeting: write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("targeting: write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("targeting: write %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // best effort: not every file system syncs directories
		d.Close()
	}
	return nil
}

// snapWriter writes little-endian fields, remembering the first error.
type snapWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	err error
	b   [8]byte
}

func (s *snapWriter) raw(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}
func (s *snapWriter) u64(v uint64) { binary.LittleEndian.PutUint64(s.b[:], v); s.raw(s.b[:8]) }
func (s *snapWriter) i64(v int64)  { s.u64(uint64(v)) }
func (s *snapWriter) f64(v float64) {
	s.u64(math.Float64bits(v))
}
func (s *snapWriter) f32(v float32) {
	binary.LittleEndian.PutUint32(s.b[:], math.Float32bits(v))
	s.raw(s.b[:4])
}
func (s *snapWriter) u8(v uint8) { s.b[0] = v; s.raw(s.b[:1]) }
func (s *snapWriter) bool(v bool) {
	if v {
		s.u8(1)
	} else {
		s.u8(0)
	}
}
func (s *snapWriter) bytes(b []byte) { s.u64(uint64(len(b))); s.raw(b) }
func (s *snapWriter) str(v string)   { s.bytes([]byte(v)) }
func (s *snapWriter) strs(v []string) {
	s.u64(uint64(len(v)))
	for _, x := range v {
		s.str(x)
	}
}

// snapReader reads what snapWriter wrote, hashing every byte for the checksum and bounding
// every length by what a sane file could hold.
type snapReader struct {
	r   *bufio.Reader
	crc hash.Hash32
	err error
	b   [8]byte
}

func (s *snapReader) fail() error {
	if errors.Is(s.err, io.EOF) || errors.Is(s.err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated", ErrSnapshot)
	}
	if errors.Is(s.err, ErrSnapshot) {
		return s.err
	}
	return fmt.Errorf("targeting: restore: %w", s.err)
}

func (s *snapReader) raw(n int) []byte {
	if s.err != nil {
		return nil
	}
	var b []byte
	if n <= len(s.b) {
		b = s.b[:n]
	} else {
		b = make([]byte, n)
	}
	if _, err := io.ReadFull(s.r, b); err != nil {
		s.err = err
		return nil
	}
	s.crc.Write(b)
	return b
}

func (s *snapReader) u64() uint64 {
	b := s.raw(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}
func (s *snapReader) i64() int64   { return int64(s.u64()) }
func (s *snapReader) f64() float64 { return math.Float64frombits(s.u64()) }
func (s *snapReader) f32() float32 {
	b := s.raw(4)
	if b == nil {
		return 0
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(b))
}
func (s *snapReader) u8() uint8 {
	b := s.raw(1)
	if b == nil {
		return 0
	}
	return b[0]
}
func (s *snapReader) bool() bool { return s.u8() != 0 }

// count reads a length and checks it against a generous bound (a billion bytes of items of
// size each), so that a damaged length cannot make Restore allocate without limit.
func (s *snapReader) count(size int) int {
	n := s.u64()
	if s.err == nil && n > uint64(1<<30/size) {
		s.err = fmt.Errorf("%w: implausible count %d", ErrSnapshot, n)
		return 0
	}
	return int(n)
}

func (s *snapReader) bytes() []byte {
	n := s.count(1)
	if s.err != nil || n == 0 {
		return nil
	}
	return append([]byte(nil), s.raw(n)...)
}
func (s *snapReader) str() string { return string(s.bytes()) }
func (s *snapReader) strs() []string {
	n := s.count(8)
	if n > 1<<20 {
		s.err = fmt.Errorf("%w: implausible list of %d strings", ErrSnapshot, n)
		return nil
	}
	var out []string
	for i := 0; i < n && s.err == nil; i++ {
		out = append(out, strings.Clone(s.str()))
	}
	return out
}
