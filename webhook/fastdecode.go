package webhook

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ledgerd/ledgerd"
	"github.com/ledgerd/ledgerd/internal/jsonscan"
)

// Every webhook goes through Decode, and the reference decoder spends
// most of its time in encoding/json: a validating pass, then a
// json.Decoder token by token for the envelope and again for the payload,
// a map per object and an Unmarshal per string. The decoder below checks
// the body in one pass that notes where each envelope member is, reads
// the payload's members the same way, and hands them to the same decode
// functions (events.go) through fastPayload, with no allocation but the
// observation's own. It takes the common shape only, and gives up (ok
// false) on anything else; Decode then runs the reference on the same
// bytes, so that every error, and every result of an unusual body, is the
// reference's. It gives up on: anything that is not one valid JSON
// object; a key in the envelope or the payload with an escape or invalid
// UTF-8 (the reference compares keys after unescaping), or given twice; a
// string it reads with an escape or invalid UTF-8; nesting deeper than
// maxDepth; both spellings of a field; and every value the reference
// would refuse. What it does not read it checks as encoding/json does.

// maxDepth bounds the nesting the fast path skips (encoding/json allows
// 10000; deeper bodies go to the reference).
const maxDepth = 32

// maxFields bounds the members of one object the fast path keeps, and so
// its quadratic duplicate check.
const maxFields = 64

// decodeFast decodes raw as decodeReference does, or reports false. It
// sets the event's id, type and version, and its account or transaction.
func decodeFast(raw []byte) (obs ledgerd.Observation, ok bool) {
	d := scanner{jsonscan.Scanner{B: raw}}
	var buf [8]field
	fs, ok := d.object(buf[:0])
	if !ok || !d.End() {
		return obs, false
	}
	env := func(key string) ([]byte, bool) { return nonNull(raw, fs, key) }

	tv, ok := env(keyType)
	if !ok {
		return obs, false
	}
	t, ok := unquote(tv)
	if !ok || len(t) == 0 {
		return obs, false
	}
	typ, known := typeNames[string(t)]
	if !known {
		typ = string(t)
	}
	iv, ok := env(keyEventID)
	if !ok {
		return obs, false
	}
	idb, ok := unquote(iv)
	if !ok {
		return obs, false
	}
	id := string(idb)
	if !isUUID(id) {
		return obs, false
	}

	ev, hasEV := env(keyEventVersion)
	v, hasV := env(keyVersion)
	if hasEV && hasV {
		return obs, false
	}
	if hasEV {
		v, hasV = ev, true
	}
	if hasV {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if !isInteger(v) || err != nil || n < 0 || n > math.MaxInt32 {
			return obs, false
		}
		obs.Event.Version = int(n)
	}
	obs.Event.ID, obs.Event.Type = strings.ToLower(id), typ

	typeKey := typ
	switch typeKey {
	case keyType, keyEventID, keyVersion, keyEventVersion, keyPayload:
		typeKey = ""
	}
	pv, hasP := env(keyPayload)
	if typeKey != "" {
		if v, hasT := env(typeKey); hasT {
			if hasP {
				return obs, false
			}
			pv, hasP = v, true
		}
	}

	hd, handled := handlers[typ]
	if !handled {
		return obs, true
	}
	if !hasP {
		return obs, false
	}
	p := fastPayloads.Get().(*fastPayload)
	defer p.release()
	pd := scanner{jsonscan.Scanner{B: pv}}
	if p.fs, ok = pd.object(p.buf[:0]); !ok || !pd.End() {
		return obs, false
	}
	p.b = pv
	if hd.account != nil {
		acct := hd.account(p)
		if p.gaveUp {
			return obs, false
		}
		obs.Account = acct
		return obs, true
	}
	tx := transaction(p, hd)
	if p.gaveUp {
		return obs, false
	}
	obs.Transaction = tx
	return obs, true
}

// typeNames holds one copy of each handled or recognised type's name, so
// that a decoded event of such a type does not allocate its own.
var typeNames = func() map[string]string {
	m := make(map[string]string, len(handlers)+len(recognised))
	for t := range handlers {
		m[t] = t
	}
	for t := range recognised {
		m[t] = t
	}
	return m
}()

// currencies holds one copy of the codes Fuse works in, for the same
// reason; others go through ledgerd.ParseCurrency as they are.
var currencies = func() map[string]ledgerd.Currency {
	m := make(map[string]ledgerd.Currency)
	for _, s := range []string{"AED", "USD", "EUR", "GBP", "SAR", "QAR", "KWD", "BHD", "OMR", "INR", "PKR", "EGP",
		"GHS", "NGN", "KES", "JPY", "CNY", "CHF", "CAD", "AUD", "SGD", "HKD", "TRY", "ZAR"} {
		if c, err := ledgerd.ParseCurrency(s); err == nil {
			m[s] = c
		}
	}
	return m
}()

// field locates one member of an object, its key as it is in the body (no
// escapes) and its value's JSON text, checked, by offsets; it holds no
// pointer, so that a fastPayload in its pool keeps nothing of an old body
// alive.
type field struct{ k0, k1, v0, v1 int }

// nonNull returns the value of key among the members fs of an object in
// b, unless it is absent or null, which the reference takes for the same
// thing.
func nonNull(b []byte, fs []field, key string) ([]byte, bool) {
	for _, f := range fs {
		if string(b[f.k0:f.k1]) == key {
			v := b[f.v0:f.v1]
			return v, string(v) != "null"
		}
	}
	return nil, false
}

// unquote returns the contents of a JSON string without escapes whose
// bytes are valid UTF-8, which are exactly what encoding/json decodes it
// to; false for any other value.
func unquote(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	ascii := true
	for _, c := range s {
		if c == '\\' {
			return nil, false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return s, ascii || utf8.Valid(s)
}

// scanner reads b from i. Its methods return false to give up.
type scanner struct{ jsonscan.Scanner }

// key reads an object key and returns where its contents are: no
// escapes, valid UTF-8, so that two keys are equal exactly when their
// bytes are.
func (d *scanner) key() (from, to int, ok bool) {
	if d.Peek() != '"' {
		return 0, 0, false
	}
	from = d.I + 1
	ascii := true
	for j := from; j < len(d.B); j++ {
		switch c := d.B[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(d.B[from:j]) {
				return 0, 0, false
			}
			d.I = j + 1
			return from, j, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return 0, 0, false
}

// object reads an object, appending its members to fs, each value
// checked. It gives up on a key with an escape or invalid UTF-8, a key
// given twice, or more than maxFields members.
func (d *scanner) object(fs []field) ([]field, bool) {
	if !d.Consume('{') {
		return nil, false
	}
	if d.Consume('}') {
		return fs, true
	}
	for {
		k0, k1, ok := d.key()
		if !ok || !d.Consume(':') || len(fs) == maxFields {
			return nil, false
		}
		key := d.B[k0:k1]
		for _, f := range fs {
			if bytes.Equal(d.B[f.k0:f.k1], key) {
				return nil, false
			}
		}
		d.WS()
		v0 := d.I
		if !d.Skip(1, maxDepth) {
			return nil, false
		}
		fs = append(fs, field{k0, k1, v0, d.I})
		if d.Consume('}') {
			return fs, true
		}
		if !d.Consume(',') {
			return nil, false
		}
	}
}

// fastPayload reads a payload for the decode functions of events.go as
// payload does, and gives up (gaveUp) wherever payload would fail, or
// might read a value differently.
type fastPayload struct {
	b      []byte  // the payload object
	fs     []field // its members
	gaveUp bool
	buf    [24]field // fs's first home
}

// fastPayloads keeps fastPayloads between requests: what the decode
// functions read goes through an interface, so each would otherwise be
// allocated, its members with it.
var fastPayloads = sync.Pool{New: func() any { return new(fastPayload) }}

// release returns p to fastPayloads, keeping nothing of the body (buf
// holds offsets only).
func (p *fastPayload) release() {
	p.b, p.fs, p.gaveUp = nil, nil, false
	fastPayloads.Put(p)
}

// value returns a field's JSON text; a null counts as absent.
func (p *fastPayload) value(name string, need presence) ([]byte, bool) {
	v, ok := nonNull(p.b, p.fs, name)
	if !ok && need == required {
		p.gaveUp = true
	}
	return v, ok
}

// str returns the contents of a string field; ok is false when it is
// absent or null.
func (p *fastPayload) str(name string, need presence) ([]byte, bool) {
	v, ok := p.value(name, need)
	if !ok {
		return nil, false
	}
	s, ok := unquote(v)
	if !ok {
		p.gaveUp = true
	}
	return s, ok
}

func (p *fastPayload) text(name string) string {
	s, _ := p.str(name, optional)
	return string(s)
}

func (p *fastPayload) id(name string, need presence) string {
	b, ok := p.str(name, need)
	if !ok {
		return ""
	}
	s := string(b)
	if !isUUID(s) {
		p.gaveUp = true
		return ""
	}
	return strings.ToLower(s)
}

func (p *fastPayload) amount(name string, need presence) (ledgerd.Amount, bool) {
	v, ok := p.value(name, need)
	if !ok {
		return 0, false
	}
	if !isInteger(v) {
		p.gaveUp = true
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if a := ledgerd.Amount(n); err == nil && a.CheckRange() == nil {
		return a, true
	}
	p.gaveUp = true
	return 0, false
}

func (p *fastPayload) currency(name string, need presence) ledgerd.Currency {
	s, ok := p.str(name, need)
	if !ok {
		return ""
	}
	if c, ok := currencies[string(s)]; ok {
		return c
	}
	c, err := ledgerd.ParseCurrency(string(s))
	if err != nil {
		p.gaveUp = true
		return ""
	}
	return c
}

func (p *fastPayload) timestamp(name string, need presence) time.Time {
	s, ok := p.str(name, need)
	if !ok {
		return time.Time{}
	}
	t, err := parseTime(string(s))
	if err != nil {
		p.gaveUp = true
		return time.Time{}
	}
	return t
}

func (p *fastPayload) rate(name string) string {
	v, ok := p.value(name, optional)
	if !ok {
		return ""
	}
	var s string
	switch kindOf(v) {
	case "a string":
		b, ok := p.str(name, optional)
		if !ok {
			return ""
		}
		s = string(b)
	case "a number":
		s = string(v)
	default:
		p.gaveUp = true
		return ""
	}
	if !isDecimal(s) {
		p.gaveUp = true
		return ""
	}
	return s
}

func (p *fastPayload) accountType(name string) string {
	s, ok := p.str(name, optional)
	if !ok {
		return ""
	}
	for _, t := range [...]string{"primary", "payment", "virtual"} {
		if string(s) == t {
			return t
		}
	}
	p.gaveUp = true
	return ""
}

// failureReason takes a string, or an object whose values are all
// strings; the reference compacts other values, which the fast path
// leaves to it, as it leaves any other kind of value (object gives up).
func (p *fastPayload) failureReason(name string) string {
	v, ok := p.value(name, optional)
	if !ok {
		return ""
	}
	if kindOf(v) == "a string" {
		return p.text(name)
	}
	var buf [4]field
	fs, ok := p.object(v, buf[:0])
	if !ok {
		return ""
	}
	var b strings.Builder
	for i, f := range fs {
		s, ok := unquote(v[f.v0:f.v1])
		if !ok {
			p.gaveUp = true
			return ""
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.Write(v[f.k0:f.k1])
		b.WriteString(": ")
		b.Write(s)
	}
	return b.String()
}

// object reads v, a member's value, as an object whose members it
// appends to fs, and gives up on anything else.
func (p *fastPayload) object(v []byte, fs []field) ([]field, bool) {
	d := scanner{jsonscan.Scanner{B: v}}
	fs, ok := d.object(fs)
	if !ok || !d.End() {
		p.gaveUp = true
		return nil, false
	}
	return fs, true
}

// feeTarget takes an object whose type, if there, is a plain string and
// whose reference is a UUID, as the reference does; anything else is left
// to it.
func (p *fastPayload) feeTarget(name string) string {
	v, ok := p.value(name, optional)
	if !ok {
		return ""
	}
	var buf [4]field
	fs, ok := p.object(v, buf[:0])
	if !ok {
		return ""
	}
	sub := fastPayload{b: v, fs: fs}
	typ, hasType := sub.str("type", optional)
	ref := sub.id("reference", required)
	if sub.gaveUp {
		p.gaveUp = true
		return ""
	}
	if hasType && string(typ) != feeTargetTransaction {
		return ""
	}
	return ref
}

func (p *fastPayload) checked(kind ledgerd.Kind, _ string, amounts ledgerd.TxAmounts) *ledgerd.TxAmounts {
	if p.gaveUp || amounts.Check(kind) != nil {
		p.gaveUp = true
		return nil
	}
	return &amounts
}
