package ledgerd

import (
	"errors"
	"math"
	"testing"
)

func TestArithmeticAtTheEdgesOfInt64IsAnErrorNotAWrap(t *testing.T) {
	cases := []struct {
		name string
		op   func() (Amount, error)
		want Amount
		err  bool
	}{
		{"max+1", func() (Amount, error) { return Amount(math.MaxInt64).Add(1) }, 0, true},
		{"min-1", func() (Amount, error) { return Amount(math.MinInt64).Sub(1) }, 0, true},
		{"min+(-1)", func() (Amount, error) { return Amount(math.MinInt64).Add(-1) }, 0, true},
		{"max-(-1)", func() (Amount, error) { return Amount(math.MaxInt64).Sub(-1) }, 0, true},
		{"-min", func() (Amount, error) { return Amount(math.MinInt64).Neg() }, 0, true},
		{"max+0", func() (Amount, error) { return Amount(math.MaxInt64).Add(0) }, math.MaxInt64, false},
		{"max+min", func() (Amount, error) { return Amount(math.MaxInt64).Add(math.MinInt64) }, -1, false},
		{"0-min", func() (Amount, error) { return Amount(0).Sub(math.MinInt64) }, 0, true},
		{"-1-min", func() (Amount, error) { return Amount(-1).Sub(math.MinInt64) }, math.MaxInt64, false},
		{"-max", func() (Amount, error) { return Amount(math.MaxInt64).Neg() }, -math.MaxInt64, false},
		{"sum overflow", func() (Amount, error) { return Sum(math.MaxInt64/2, math.MaxInt64/2, 2) }, 0, true},
		{"sum", func() (Amount, error) { return Sum(5, -7, 3) }, 1, false},
	}
	for _, c := range cases {
		got, err := c.op()
		if c.err {
			if !errors.Is(err, ErrOverflow) {
				t.Errorf("%s: got %d, %v; want ErrOverflow", c.name, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %d, %v; want %d", c.name, got, err, c.want)
		}
	}
}

func TestCheckRange(t *testing.T) {
	for _, a := range []Amount{0, 1, MaxAmount} {
		if err := a.CheckRange(); err != nil {
			t.Errorf("%d: %v", a, err)
		}
	}
	for _, a := range []Amount{-1, MaxAmount + 1, math.MaxInt64, math.MinInt64} {
		if err := a.CheckRange(); !errors.Is(err, ErrAmountRange) {
			t.Errorf("%d: %v, want ErrAmountRange", a, err)
		}
	}
}

func TestFormatAndParseMajorUnitsExactly(t *testing.T) {
	cases := []struct {
		a    Amount
		c    Currency
		want string
	}{
		{12345, "AED", "123.45"},
		{-5, "USD", "-0.05"},
		{0, "USD", "0.00"},
		{100, "JPY", "100"},
		{1, "BHD", "0.001"},
		{-1000, "KWD", "-1.000"},
		{math.MaxInt64, "USD", "92233720368547758.07"},
		{math.MinInt64, "USD", "-92233720368547758.08"},
	}
	for _, c := range cases {
		if got := c.a.Format(c.c); got != c.want {
			t.Errorf("Format(%d, %s) = %q, want %q", c.a, c.c, got, c.want)
		}
		back, err := ParseMajor(c.want, c.c)
		if err != nil || back != c.a {
			t.Errorf("ParseMajor(%q, %s) = %d, %v; want %d", c.want, c.c, back, err, c.a)
		}
	}
	for _, bad := range []string{"1.234", "", "1.", ".5", "1e3", "abc", "92233720368547758.08", "--1"} {
		if _, err := ParseMajor(bad, "USD"); err == nil {
			t.Errorf("ParseMajor(%q) accepted", bad)
		}
	}
}

func TestParseCurrency(t *testing.T) {
	for _, ok := range []string{"AED", "USD", "GHS", "JPY", "EUR"} {
		if c, err := ParseCurrency(ok); err != nil || string(c) != ok {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"aed", "XYZ", "", "AEDX", "US"} {
		if _, err := ParseCurrency(bad); !errors.Is(err, ErrCurrency) {
			t.Errorf("%q: %v, want ErrCurrency", bad, err)
		}
	}
	if Currency("JPY").Exponent() != 0 || Currency("AED").Exponent() != 2 || Currency("BHD").Exponent() != 3 {
		t.Error("wrong exponents")
	}
}

func TestStatusOnlyMovesForward(t *testing.T) {
	order := []Status{StatusCreated, StatusSubmitted, StatusExecuted}
	for i := 1; i < len(order); i++ {
		if order[i].Rank() <= order[i-1].Rank() {
			t.Errorf("%s does not rank above %s", order[i], order[i-1])
		}
	}
	for _, s := range []Status{StatusExecuted, StatusSettled, StatusFailed} {
		if !s.Terminal() {
			t.Errorf("%s not terminal", s)
		}
	}
	if StatusFailed.Succeeded() || !StatusSettled.Succeeded() || Status("pending").Valid() {
		t.Error("wrong status predicates")
	}
}
