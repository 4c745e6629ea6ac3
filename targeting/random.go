package targeting

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// Salts of the engine's own keyed draws. Rules use their ID as the salt, so a rule's percentage
// draw is independent of the random control draw and of every other rule's.
const (
	saltRandom  = "random"
	saltExplore = "explore"
)

// RandomDraw returns a uniform number in [0, 1) derived from HMAC-SHA256(key, salt || 0x00 ||
// number). It is the only source of chance in a decision: the same key, salt and declaration
// number always give the same draw, so an auditor holding the key can recompute why a consignment
// was (or was not) selected, while a declarant without the key cannot predict it. The draw uses
// the declaration number, not its version, so amending a declaration cannot re-roll the dice.
//
// It does not allocate for keys up to 64 bytes and salt+number up to 190 bytes.
func RandomDraw(key []byte, salt, number string) float64 {
	const block = 64
	if len(key) > block || len(salt)+len(number)+1 > 190 {
		return drawSlow(key, salt, number)
	}
	// HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)), computed with Sum256 on stack buffers
	// because hmac.New allocates several objects per call.
	var in [block + 192]byte
	for i := 0; i < block; i++ {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		in[i] = k ^ 0x36
	}
	n := block
	n += copy(in[n:], salt)
	in[n] = 0
	n++
	n += copy(in[n:], number)
	inner := sha256.Sum256(in[:n])
	var out [block + sha256.Size]byte
	for i := 0; i < block; i++ {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		out[i] = k ^ 0x5c
	}
	copy(out[block:], inner[:])
	sum := sha256.Sum256(out[:])
	return toUnit(sum[:8])
}

func drawSlow(key []byte, salt, number string) float64 {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(salt))
	m.Write([]byte{0})
	m.Write([]byte(number))
	return toUnit(m.Sum(nil)[:8])
}

// toUnit maps the first 53 bits of b to [0, 1) exactly, as math/rand does for Float64.
func toUnit(b []byte) float64 {
	return float64(binary.BigEndian.Uint64(b)>>11) / (1 << 53)
}

// drawer computes RandomDraw for one key with the HMAC's padded-key states computed once:
// per draw it hashes two blocks instead of four. Not safe for concurrent use (it lives in the
// per-call scratch).
type drawer struct {
	mac hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

func newDrawer(key []byte) *drawer {
	d := &drawer{mac: hmac.New(sha256.New, key)}
	d.mac.Reset() // makes the HMAC save its padded-key states
	return d
}

// draw equals RandomDraw(key, salt, number).
func (d *drawer) draw(salt, number string) float64 {
	d.buf = append(append(append(d.buf[:0], salt...), 0), number...)
	d.mac.Reset()
	d.mac.Write(d.buf)
	return toUnit(d.mac.Sum(d.sum[:0])[:8])
}
