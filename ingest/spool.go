package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Spool is an append-only on-disk journal of JSON records, used when a downstream store is
// unavailable: a batch appended to the spool is durable (fsynced) and the caller may go on as if
// it were stored; Drain later hands the records to the store again. Records of any kind share one
// journal; the kind says what they are.
//
// The journal is a directory of segment files named by sequence number. Each line is
//
//	<crc32c of kind and record, 8 hex digits> <kind> <compact JSON>\n
//
// so a torn write at the end of a segment (a crash during Append, before its fsync returned) is
// recognized and ignored. A segment is removed only after every record in it was handed to Drain's
// function successfully; delivery is therefore at least once, and the consumer of records must be
// idempotent. It is safe for concurrent use and survives process restarts.
type Spool struct {
	dir      string
	segBytes int64

	mu      sync.Mutex // guards the fields below and appends
	cur     *os.File   // open segment being appended to, or nil
	curSeq  uint64
	curSize int64
	nextSeq uint64
	depth   int64 // records not yet drained

	drainMu sync.Mutex       // one Drain at a time
	done    map[uint64]int64 // per segment, bytes already delivered during this process
	closed  bool
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const segSuffix = ".seg"

// OpenSpool opens (creating it if needed) the spool in dir; segments roll after segmentBytes
// (64 MiB when ≤ 0). Records left by an earlier process are counted and will be drained.
func OpenSpool(dir string, segmentBytes int64) (*Spool, error) {
	if segmentBytes <= 0 {
		segmentBytes = 64 << 20
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ingest: spool: %w", err)
	}
	s := &Spool{dir: dir, segBytes: segmentBytes, done: map[uint64]int64{}}
	seqs, err := s.segments()
	if err != nil {
		return nil, err
	}
	for _, seq := range seqs {
		n, err := s.scan(seq, 0, nil)
		if err != nil {
			return nil, err
		}
		s.depth += int64(n)
		s.nextSeq = seq + 1
	}
	return s, nil
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Depth is the number of records appended and not yet drained.
func (s *Spool) Depth() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.depth
}

// Append writes records (each JSON-encoded; a []byte or json.RawMessage must be JSON already) of
// one kind and fsyncs before returning: when it returns nil, the records survive a crash.
func (s *Spool) Append(ctx context.Context, kind string, records ...any) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var buf []byte
	for _, r := range records {
		var raw []byte
		switch v := r.(type) {
		case []byte:
			raw = v
		case json.RawMessage:
			raw = v
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return fmt.Errorf("ingest: spool: encode %s record: %w", kind, err)
			}
			raw = b
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			return fmt.Errorf("ingest: spool: %s record is not JSON: %w", kind, err)
		}
		buf = appendFrame(buf, kind, compact.Bytes())
	}
	return s.appendFramed(buf, len(records), kind)
}

func checkKind(kind string) error {
	if kind == "" || strings.ContainsAny(kind, " \n") {
		return errors.New("ingest: spool: kind must be a non-empty word")
	}
	return nil
}

// appendFrame appends one journal line for a compact, single-line JSON record: the framing is
// done by callers, outside the lock, so that concurrent appenders encode in parallel and only the
// write and the fsync are serialized.
// frameLen is how many bytes appendFrame appends.
func frameLen(kind string, compact []byte) int { return 8 + 1 + len(kind) + 1 + len(compact) + 1 }

func appendFrame(dst []byte, kind string, compact []byte) []byte {
	h := crc32.Update(0, castagnoli, []byte(kind))
	h = crc32.Update(h, castagnoli, compact)
	const hexDigits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(h>>uint(shift))&0xf])
	}
	dst = append(dst, ' ')
	dst = append(dst, kind...)
	dst = append(dst, ' ')
	dst = append(dst, compact...)
	return append(dst, '\n')
}

// appendFramed writes n already framed records and fsyncs them.
func (s *Spool) appendFramed(buf []byte, n int, kind string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("ingest: spool is closed")
	}
	if s.cur != nil && s.curSize >= s.segBytes {
		s.sealLocked()
	}
	if s.cur == nil {
		seq := s.nextSeq
		f, err := os.OpenFile(s.path(seq), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("ingest: spool: %w", err)
		}
		// The new file's name must be durable too, or a crash could lose the whole segment.
		if err := syncDir(s.dir); err != nil {
			f.Close()
			return fmt.Errorf("ingest: spool: %w", err)
		}
		s.cur, s.curSeq, s.curSize, s.nextSeq = f, seq, 0, seq+1
	}
	w, err := s.cur.Write(buf)
	s.curSize += int64(w)
	if err == nil {
		err = s.cur.Sync()
	}
	if err != nil {
		// The segment may now end in a torn line; start a fresh one for what follows.
		s.sealLocked()
		return fmt.Errorf("ingest: spool: append %d %s record(s): %w", n, kind, err)
	}
	s.depth += int64(n)
	return nil
}

func (s *Spool) sealLocked() {
	if s.cur != nil {
		s.cur.Close()
		s.cur = nil
	}
}

// Drain hands every spooled record, oldest first, to fn, and removes each segment once fn has
// succeeded for all its records. It stops at fn's first error and returns it (wrapped); the
// records not yet delivered stay for the next Drain. Records appended while Drain runs go to a new
// segment and wait for the next Drain.
func (s *Spool) Drain(ctx context.Context, fn func(kind string, raw []byte) error) error {
	return s.DrainBatches(ctx, 1, func(kind string, raws [][]byte) error { return fn(kind, raws[0]) })
}

// DrainBatches is Drain delivering up to max consecutive records of the same kind at once, so a
// store can take them in one insert. A batch never spans two segments.
func (s *Spool) DrainBatches(ctx context.Context, max int, fn func(kind string, raws [][]byte) error) error {
	if max < 1 {
		max = 1
	}
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	s.mu.Lock()
	s.sealLocked()
	limit := s.nextSeq
	s.mu.Unlock()
	seqs, err := s.segments()
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		if seq >= limit {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var (
			fnErr   error
			kind    string
			raws    [][]byte
			lastEnd int64
		)
		flush := func() bool {
			if len(raws) == 0 {
				return true
			}
			if fnErr = fn(kind, raws); fnErr != nil {
				return false
			}
			s.done[seq] = lastEnd
			s.mu.Lock()
			s.depth -= int64(len(raws))
			s.mu.Unlock()
			raws = nil
			return true
		}
		_, err := s.scan(seq, s.done[seq], func(k string, raw []byte, end int64) bool {
			if len(raws) > 0 && (k != kind || len(raws) >= max) && !flush() {
				return false
			}
			kind = k
			raws = append(raws, raw)
			lastEnd = end
			return true
		})
		if err != nil {
			return err
		}
		if fnErr == nil {
			flush()
		}
		if fnErr != nil {
			return fmt.Errorf("ingest: spool: drain segment %d: %w", seq, fnErr)
		}
		if err := os.Remove(s.path(seq)); err != nil {
			return fmt.Errorf("ingest: spool: %w", err)
		}
		delete(s.done, seq)
	}
	return syncDir(s.dir)
}

// Close closes the open segment. Spooled records stay on disk for the next OpenSpool.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealLocked()
	s.closed = true
	return nil
}

func (s *Spool) path(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, segSuffix))
}

// segments lists the segment sequence numbers in order.
func (s *Spool) segments() ([]uint64, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("ingest: spool: %w", err)
	}
	var seqs []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err == nil {
			seqs = append(seqs, seq)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

// scan reads segment seq from byte offset from, calling visit (when not nil) for each intact
// record with the offset just past it, until visit returns false. A line that is torn or fails
// its checksum ends the segment: nothing after a torn write was ever acknowledged. It returns
// the number of intact records visited (or counted).
func (s *Spool) scan(seq uint64, from int64, visit func(kind string, raw []byte, end int64) bool) (int, error) {
	f, err := os.Open(s.path(seq))
	if err != nil {
		return 0, fmt.Errorf("ingest: spool: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return 0, fmt.Errorf("ingest: spool: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<16)
	off, n := from, 0
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			return n, nil // a partial last line without newline is a torn write
		}
		if err != nil {
			return n, fmt.Errorf("ingest: spool: read segment %d: %w", seq, err)
		}
		off += int64(len(line))
		kind, raw, ok := parseSpoolLine(line[:len(line)-1])
		if !ok {
			return n, nil
		}
		n++
		if visit != nil && !visit(kind, raw, off) {
			return n, nil
		}
	}
}

func parseSpoolLine(line []byte) (kind string, raw []byte, ok bool) {
	if len(line) < 11 || line[8] != ' ' {
		return "", nil, false
	}
	sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil {
		return "", nil, false
	}
	rest := line[9:]
	sp := bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return "", nil, false
	}
	h := crc32.New(castagnoli)
	h.Write(rest[:sp])
	h.Write(rest[sp+1:])
	if h.Sum32() != uint32(sum) {
		return "", nil, false
	}
	return string(rest[:sp]), rest[sp+1:], true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
