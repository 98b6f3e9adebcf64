// Package jsonscan holds the primitives of the project's fast JSON
// decoders (fuse's transaction pages, webhook bodies): a cursor over the
// bytes that checks what it reads exactly as encoding/json would, and
// reports false instead of an error, so that the caller can give up and
// let encoding/json decode the same bytes (and word the error).
package jsonscan

// Scanner reads B from I. Its methods return false to give up.
type Scanner struct {
	B []byte
	I int
}

// WS skips white space.
func (s *Scanner) WS() {
	for s.I < len(s.B) {
		switch s.B[s.I] {
		case ' ', '\t', '\n', '\r':
			s.I++
		default:
			return
		}
	}
}

// End accepts only white space after the value.
func (s *Scanner) End() bool {
	s.WS()
	return s.I == len(s.B)
}

// Peek skips white space and returns the next byte (0 at the end).
func (s *Scanner) Peek() byte {
	s.WS()
	if s.I < len(s.B) {
		return s.B[s.I]
	}
	return 0
}

// Consume reads c, after white space.
func (s *Scanner) Consume(c byte) bool {
	if s.Peek() != c {
		return false
	}
	s.I++
	return true
}

// Literal consumes one of true, false, null.
func (s *Scanner) Literal(word string) bool {
	if string(s.B[s.I:min(len(s.B), s.I+len(word))]) != word {
		return false
	}
	s.I += len(word)
	return true
}

// Number reads a number literal as JSON spells it, after white space,
// and returns it.
func (s *Scanner) Number() ([]byte, bool) {
	s.WS()
	b, start := s.B, s.I
	j := start
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		j = digits(b, j)
	default:
		return nil, false
	}
	if j < len(b) && b[j] == '.' {
		k := j + 1
		if j = digits(b, k); j == k {
			return nil, false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		k := j + 1
		if k < len(b) && (b[k] == '+' || b[k] == '-') {
			k++
		}
		if j = digits(b, k); j == k {
			return nil, false
		}
	}
	s.I = j
	return b[start:j], true
}

// digits returns where the run of decimal digits in b from j ends.
func digits(b []byte, j int) int {
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	return j
}

// String skips a string (the next byte must be its quote), checking it as
// encoding/json does: no control characters, valid escapes. Other bytes,
// invalid UTF-8 included, are valid JSON text.
func (s *Scanner) String() bool {
	b := s.B
	for j := s.I + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s.I = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			j++
			if j >= len(b) {
				return false
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(b) {
					return false
				}
				for _, h := range b[j+1 : j+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				j += 4
			default:
				return false
			}
		}
	}
	return false
}

// Skip reads any value, checking it as encoding/json would, nested at
// most maxDepth deep (depth is the current one).
func (s *Scanner) Skip(depth, maxDepth int) bool {
	if depth > maxDepth {
		return false
	}
	switch s.Peek() {
	case '"':
		return s.String()
	case '{':
		return s.members('}', depth, maxDepth)
	case '[':
		return s.members(']', depth, maxDepth)
	case 't':
		return s.Literal("true")
	case 'f':
		return s.Literal("false")
	case 'n':
		return s.Literal("null")
	}
	_, ok := s.Number()
	return ok
}

// members skips the rest of an object (closer '}') or an array (']')
// from its opening bracket: each member is a value, after a key and a
// colon in an object.
func (s *Scanner) members(closer byte, depth, maxDepth int) bool {
	s.I++
	if s.Consume(closer) {
		return true
	}
	for {
		if closer == '}' && (s.Peek() != '"' || !s.String() || !s.Consume(':')) {
			return false
		}
		if !s.Skip(depth+1, maxDepth) {
			return false
		}
		if s.Consume(closer) {
			return true
		}
		if !s.Consume(',') {
			return false
		}
	}
}
