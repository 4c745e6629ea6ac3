package ingest

// Check characters of the identifiers declarations and manifests carry. Each function takes the
// identifier already normalized (upper case, no spaces) and says whether it is well formed and its
// check character matches. They allocate nothing: they run on every message.

// usccAlphabet is the character set of the unified social credit code (GB 32100-2015): digits and
// upper-case letters without I, O, S, V and Z. A character's value is its index.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// usccWeights are 3^i mod 31 for the first 17 positions (GB 32100-2015, 5.2).
var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

var usccValue = func() (v [256]int8) {
	for i := range v {
		v[i] = -1
	}
	for i := 0; i < len(usccAlphabet); i++ {
		v[usccAlphabet[i]] = int8(i)
	}
	return v
}()

// USCCProblem reports what is wrong with an 18-character unified social credit code
// (统一社会信用代码): "" when valid, "format" when its length, alphabet or division code is wrong,
// "check_digit" when the 18th character does not match the first 17.
func USCCProblem(s string) string {
	if len(s) != 18 {
		return "format"
	}
	sum := 0
	for i := 0; i < 18; i++ {
		v := usccValue[s[i]]
		if v < 0 {
			return "format"
		}
		// Positions 3–8 are the administrative division code: digits only.
		if i >= 2 && i < 8 && v > 9 {
			return "format"
		}
		if i < 17 {
			sum += int(v) * usccWeights[i]
		}
	}
	want := (31 - sum%31) % 31
	if int(usccValue[s[17]]) != want {
		return "check_digit"
	}
	return ""
}

// USCCCheckChar computes the 18th character for the first 17 characters of a USCC; it returns 0
// when prefix is not 17 characters of the USCC alphabet. Generators and tests use it.
func USCCCheckChar(prefix string) byte {
	if len(prefix) != 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := usccValue[prefix[i]]
		if v < 0 {
			return 0
		}
		sum += int(v) * usccWeights[i]
	}
	return usccAlphabet[(31-sum%31)%31]
}

// iso6346Letter maps A–Z to the ISO 6346 equivalent values: 10 upwards, skipping multiples of 11.
var iso6346Letter = [26]int{10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 34, 35, 36, 37, 38}

// ContainerProblem reports what is wrong with an ISO 6346 container number such as CSQU3054383:
// "" when valid, "format" unless it is three owner letters, a category letter (U, J or Z), six
// digits and a check digit, "check_digit" when the check digit does not match.
func ContainerProblem(s string) string {
	if len(s) != 11 {
		return "format"
	}
	sum := 0
	for i := 0; i < 10; i++ {
		c := s[i]
		var v int
		switch {
		case i < 4 && c >= 'A' && c <= 'Z':
			if i == 3 && c != 'U' && c != 'J' && c != 'Z' {
				return "format"
			}
			v = iso6346Letter[c-'A']
		case i >= 4 && c >= '0' && c <= '9':
			v = int(c - '0')
		default:
			return "format"
		}
		sum += v << i
	}
	c := s[10]
	if c < '0' || c > '9' {
		return "format"
	}
	if int(c-'0') != sum%11%10 {
		return "check_digit"
	}
	return ""
}

// ContainerCheckDigit computes the check digit for the first 10 characters of a container
// number; it returns 0 when they are malformed.
func ContainerCheckDigit(prefix string) byte {
	if len(prefix) != 10 {
		return 0
	}
	for d := byte('0'); d <= '9'; d++ {
		if ContainerProblem(prefix+string(d)) == "" {
			return d
		}
	}
	return 0
}

// IMOProblem reports what is wrong with a 7-digit IMO ship number (without the "IMO" prefix):
// "" when valid, "format" unless seven digits, "check_digit" when the last digit is not
// Σ dᵢ·(7−i) mod 10 over the first six.
func IMOProblem(s string) string {
	if len(s) != 7 {
		return "format"
	}
	sum := 0
	for i := 0; i < 7; i++ {
		if s[i] < '0' || s[i] > '9' {
			return "format"
		}
		if i < 6 {
			sum += int(s[i]-'0') * (7 - i)
		}
	}
	if int(s[6]-'0') != sum%10 {
		return "check_digit"
	}
	return ""
}

// IMOCheckDigit computes the 7th digit for six leading digits; 0 when malformed.
func IMOCheckDigit(prefix string) byte {
	if len(prefix) != 6 {
		return 0
	}
	sum := 0
	for i := 0; i < 6; i++ {
		if prefix[i] < '0' || prefix[i] > '9' {
			return 0
		}
		sum += int(prefix[i]-'0') * (7 - i)
	}
	return byte('0' + sum%10)
}

// allDigits reports whether s is n ASCII digits.
func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// upperAlnum reports whether s is n characters of 0–9 and A–Z.
func upperAlnum(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
