package synth

// Identifiers with check characters. The generator computes them itself (rather than calling
// ingest's validators) so that a declaration is valid by construction; the tests check every
// generated identifier with ingest's validators, so the two implementations keep each other honest.

// usccAlphabet is the GB 32100-2015 character set: digits and capitals without I, O, S, V, Z.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are 3^i mod 31 for the first 17 positions (GB 32100-2015).
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

func usccIndex(c byte) int {
	for i := 0; i < len(usccAlphabet); i++ {
		if usccAlphabet[i] == c {
			return i
		}
	}
	return -1
}

// usccCheck returns the 18th character of a unified social credit code for its first 17.
func usccCheck(prefix []byte) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += usccIndex(prefix[i]) * usccWeights[i]
	}
	return usccAlphabet[(31-sum%31)%31]
}

// orgCodeWeights are the GB 11714-1997 weights of the 9-character organization code embedded in
// positions 9–17 of a USCC; its own check character is position 17.
var orgCodeWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

// orgCodeCheck returns the GB 11714 check character for 8 body characters (digits count their
// value, letters A=10 … Z=35): 11 − Σ mod 11, written X for 10 and 0 for 11.
func orgCodeCheck(body []byte) byte {
	sum := 0
	for i := 0; i < 8; i++ {
		c := body[i]
		v := int(c - '0')
		if c >= 'A' {
			v = int(c-'A') + 10
		}
		sum += v * orgCodeWeights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + c)
	}
}

// makeUSCC builds a valid USCC: registration authority and type ("91" = enterprise registered
// with market regulation), 6-digit administrative division, a GB 11714 organization code whose
// 8 body characters come from body (upper-case alphanumerics of the USCC alphabet), and the check
// character.
func makeUSCC(kind string, division string, body [8]byte) string {
	var b [18]byte
	copy(b[0:2], kind)
	copy(b[2:8], division)
	copy(b[8:16], body[:])
	b[16] = orgCodeCheck(b[8:16])
	b[17] = usccCheck(b[:17])
	return string(b[:])
}

// iso6346Letter maps A–Z to ISO 6346 equivalent values: 10 upwards, skipping multiples of 11.
var iso6346Letter = [26]int{10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 34, 35, 36, 37, 38}

// containerCheck returns the ISO 6346 check digit of an owner code with category letter (4
// capitals) followed by a 6-digit serial: Σ value·2^i mod 11 mod 10.
func containerCheck(prefix []byte) byte {
	sum := 0
	for i := 0; i < 10; i++ {
		c := prefix[i]
		v := int(c - '0')
		if i < 4 {
			v = iso6346Letter[c-'A']
		}
		sum += v << i
	}
	return byte('0' + sum%11%10)
}

// makeContainer builds a valid ISO 6346 container number from a 4-letter owner+category code and
// a serial below 1,000,000.
func makeContainer(owner string, serial int) string {
	var b [11]byte
	copy(b[:4], owner)
	putDigits(b[4:10], serial)
	b[10] = containerCheck(b[:10])
	return string(b[:])
}

// makeIMO builds a valid 7-digit IMO ship number from a 6-digit body: the check digit is
// Σ dᵢ·(7−i) mod 10.
func makeIMO(body int) string {
	var b [7]byte
	putDigits(b[:6], body)
	sum := 0
	for i := 0; i < 6; i++ {
		sum += int(b[i]-'0') * (7 - i)
	}
	b[6] = byte('0' + sum%10)
	return string(b[:])
}

// putDigits writes v as len(dst) zero-padded decimal digits (the low digits if v is larger).
func putDigits(dst []byte, v int) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}
