// Package ledgerd holds the domain types every other package of ledgerd
// shares: money in integer minor units, Fuse transaction kinds and statuses,
// and the observations that webhooks and the backfill hand to the ledger.
// It imports nothing of ledgerd's own, so every package may depend on it.
package ledgerd

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Amount is a quantity of money in the minor units of its currency (fils,
// cents, pesewas). It is never a float. Arithmetic on Amounts is checked:
// a result that does not fit in int64 is ErrOverflow, never a wrapped value.
type Amount int64

// MaxAmount is the largest single amount ledgerd accepts from Fuse for one
// transaction field: 10^15 minor units (10 trillion in a two-decimal
// currency). It leaves int64 head-room for nine thousand such amounts in one
// balance, so an absurd value is refused at the door instead of poisoning a
// balance that later could not move.
const MaxAmount Amount = 1_000_000_000_000_000

// Money errors callers act on.
var (
	// ErrOverflow reports arithmetic whose result does not fit in int64.
	ErrOverflow = errors.New("amount overflow")
	// ErrAmountRange reports an amount outside [0, MaxAmount] where Fuse
	// must send a non-negative amount.
	ErrAmountRange = errors.New("amount out of range")
	// ErrCurrency reports a currency code that is not an ISO 4217 code
	// ledgerd knows.
	ErrCurrency = errors.New("unknown currency")
)

// Add returns a+b, or ErrOverflow.
func (a Amount) Add(b Amount) (Amount, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, fmt.Errorf("%d + %d: %w", a, b, ErrOverflow)
	}
	return s, nil
}

// Sub returns a−b, or ErrOverflow.
func (a Amount) Sub(b Amount) (Amount, error) {
	d := a - b
	if (b > 0 && d > a) || (b < 0 && d < a) {
		return 0, fmt.Errorf("%d - %d: %w", a, b, ErrOverflow)
	}
	return d, nil
}

// Neg returns −a, or ErrOverflow for the one int64 that has no negation.
func (a Amount) Neg() (Amount, error) {
	if a == math.MinInt64 {
		return 0, fmt.Errorf("-(%d): %w", a, ErrOverflow)
	}
	return -a, nil
}

// CheckRange reports ErrAmountRange unless 0 <= a <= MaxAmount.
func (a Amount) CheckRange() error {
	if a < 0 || a > MaxAmount {
		return fmt.Errorf("%d not in [0, %d]: %w", a, MaxAmount, ErrAmountRange)
	}
	return nil
}

// Sum adds amounts with overflow checking.
func Sum(amounts ...Amount) (Amount, error) {
	var total Amount
	for _, a := range amounts {
		var err error
		if total, err = total.Add(a); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// Currency is an upper-case ISO 4217 alphabetic code.
type Currency string

// currencyExponents holds the minor-unit exponent of every ISO 4217 currency
// ledgerd accepts. Fuse works in AED, USD, EUR, GBP and a few more; the table
// covers the active ISO list so a report never guesses an exponent.
var currencyExponents = map[Currency]int{
	"AED": 2, "AFN": 2, "ALL": 2, "AMD": 2, "ANG": 2, "AOA": 2, "ARS": 2, "AUD": 2, "AWG": 2, "AZN": 2,
	"BAM": 2, "BBD": 2, "BDT": 2, "BGN": 2, "BHD": 3, "BIF": 0, "BMD": 2, "BND": 2, "BOB": 2, "BRL": 2,
	"BSD": 2, "BTN": 2, "BWP": 2, "BYN": 2, "BZD": 2, "CAD": 2, "CDF": 2, "CHF": 2, "CLP": 0, "CNY": 2,
	"COP": 2, "CRC": 2, "CUP": 2, "CVE": 2, "CZK": 2, "DJF": 0, "DKK": 2, "DOP": 2, "DZD": 2, "EGP": 2,
	"ERN": 2, "ETB": 2, "EUR": 2, "FJD": 2, "FKP": 2, "GBP": 2, "GEL": 2, "GHS": 2, "GIP": 2, "GMD": 2,
	"GNF": 0, "GTQ": 2, "GYD": 2, "HKD": 2, "HNL": 2, "HTG": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2,
	"IQD": 3, "IRR": 2, "ISK": 0, "JMD": 2, "JOD": 3, "JPY": 0, "KES": 2, "KGS": 2, "KHR": 2, "KMF": 0,
	"KPW": 2, "KRW": 0, "KWD": 3, "KYD": 2, "KZT": 2, "LAK": 2, "LBP": 2, "LKR": 2, "LRD": 2, "LSL": 2,
	"LYD": 3, "MAD": 2, "MDL": 2, "MGA": 2, "MKD": 2, "MMK": 2, "MNT": 2, "MOP": 2, "MRU": 2, "MUR": 2,
	"MVR": 2, "MWK": 2, "MXN": 2, "MYR": 2, "MZN": 2, "NAD": 2, "NGN": 2, "NIO": 2, "NOK": 2, "NPR": 2,
	"NZD": 2, "OMR": 3, "PAB": 2, "PEN": 2, "PGK": 2, "PHP": 2, "PKR": 2, "PLN": 2, "PYG": 0, "QAR": 2,
	"RON": 2, "RSD": 2, "RUB": 2, "RWF": 0, "SAR": 2, "SBD": 2, "SCR": 2, "SDG": 2, "SEK": 2, "SGD": 2,
	"SHP": 2, "SLE": 2, "SOS": 2, "SRD": 2, "SSP": 2, "STN": 2, "SYP": 2, "SZL": 2, "THB": 2, "TJS": 2,
	"TMT": 2, "TND": 3, "TOP": 2, "TRY": 2, "TTD": 2, "TWD": 2, "TZS": 2, "UAH": 2, "UGX": 0, "USD": 2,
	"UYU": 2, "UZS": 2, "VES": 2, "VND": 0, "VUV": 0, "WST": 2, "XAF": 0, "XCD": 2, "XOF": 0, "XPF": 0,
	"YER": 2, "ZAR": 2, "ZMW": 2, "ZWG": 2,
}

// ParseCurrency returns the Currency for an ISO 4217 code. It accepts only
// the exact upper-case code: Fuse sends "AED", and a "aed" is a sign of a
// broken producer worth refusing rather than guessing at.
func ParseCurrency(s string) (Currency, error) {
	c := Currency(s)
	if _, ok := currencyExponents[c]; !ok {
		return "", fmt.Errorf("%q: %w", s, ErrCurrency)
	}
	return c, nil
}

// Exponent returns the number of minor-unit digits of c (AED 2, JPY 0,
// BHD 3). An unknown currency reports 2, the commonest exponent; callers
// validate with ParseCurrency at the edge.
func (c Currency) Exponent() int {
	if e, ok := currencyExponents[c]; ok {
		return e
	}
	return 2
}

// Valid reports whether c is a known ISO 4217 code.
func (c Currency) Valid() bool {
	_, ok := currencyExponents[c]
	return ok
}

// Format renders a in major units of c as an exact decimal string:
// Format(12345, "AED") is "123.45", Format(-5, "USD") is "-0.05",
// Format(100, "JPY") is "100". It never goes through a float.
func (a Amount) Format(c Currency) string {
	exp := c.Exponent()
	neg := a < 0
	// Work on the unsigned magnitude so MinInt64 formats correctly.
	mag := uint64(a)
	if neg {
		mag = uint64(-(a + 1)) + 1
	}
	digits := strconv.FormatUint(mag, 10)
	if exp > 0 {
		if len(digits) <= exp {
			digits = strings.Repeat("0", exp-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// ParseMajor parses a decimal string in major units of c ("123.45") into
// minor units, refusing more fractional digits than c has and values that
// overflow int64.
func ParseMajor(s string, c Currency) (Amount, error) {
	exp := c.Exponent()
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	whole, frac, hasDot := strings.Cut(body, ".")
	if whole == "" || (hasDot && frac == "") || len(frac) > exp {
		return 0, fmt.Errorf("parse %q as %s: want digits with at most %d decimals", s, c, exp)
	}
	frac += strings.Repeat("0", exp-len(frac))
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("parse %q as %s: not a decimal number", s, c)
		}
	}
	u, err := strconv.ParseUint(whole+frac, 10, 64)
	if err != nil || u > math.MaxInt64+1 || (!neg && u > math.MaxInt64) {
		return 0, fmt.Errorf("parse %q as %s: %w", s, c, ErrOverflow)
	}
	if neg {
		return Amount(-int64(u-1) - 1), nil
	}
	return Amount(u), nil
}
