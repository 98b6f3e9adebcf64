package sandbox

import (
	"math/big"
	"strconv"
	"strings"

	"github.com/ledgerd/ledgerd"
)

// The sandbox's prices [model]: Fuse publishes neither its fee schedule nor
// its rates, so these are ours, fixed, and exact.

// paymentFee is the fee on an outbound local payment: nothing below 1,000.00
// major units of the currency, and one major unit from 1,000.00 up (100
// minor units in AED, USD, EUR and GBP; 1 in JPY; 1000 in BHD). Internal
// transfers, exchanges and inbound payments carry no fee.
func paymentFee(amount int64, currency string) int64 {
	unit := pow10(ledgerd.Currency(currency).Exponent())
	if amount < 1000*unit {
		return 0
	}
	return unit
}

// rateTable holds the exchange rates the sandbox quotes, source → destination,
// as decimal strings with at most six decimals. They are used verbatim in
// webhooks and transactions and parsed to parts per 10^6 for arithmetic;
// there are no cross rates.
var rateTable = map[[2]string]string{
	{"USD", "AED"}: "3.6725", {"AED", "USD"}: "0.272294",
	{"EUR", "AED"}: "3.9821", {"AED", "EUR"}: "0.251124",
	{"GBP", "AED"}: "4.6512", {"AED", "GBP"}: "0.214999",
	{"SAR", "AED"}: "0.9793", {"AED", "SAR"}: "1.021137",
	{"EUR", "USD"}: "1.0843", {"USD", "EUR"}: "0.922254",
	{"GBP", "USD"}: "1.2665", {"USD", "GBP"}: "0.789577",
	{"GBP", "EUR"}: "1.1680", {"EUR", "GBP"}: "0.856164",
	{"USD", "JPY"}: "151.25", {"JPY", "USD"}: "0.006611",
	{"AED", "JPY"}: "41.18", {"JPY", "AED"}: "0.024283",
	{"BHD", "AED"}: "9.7673", {"AED", "BHD"}: "0.102383", // a currency with three decimals
}

// rateScale is the denominator of a parsed rate: rates are held as integer
// parts per million.
const rateScale = 1_000_000

// parseRate parses a decimal string with at most six decimals into parts
// per million.
func parseRate(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 6 {
		return 0, false
	}
	frac += strings.Repeat("0", 6-len(frac))
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return v, true
}

// convert returns the destination amount of an exchange of amount minor
// units of from into to, floor(amount × rate) in to's minor units, and the
// rate as its decimal string. ok is false for a pair without a rate or a
// result that does not fit a transaction amount.
func convert(amount int64, from, to string) (counter int64, rate string, ok bool) {
	rate, ok = rateTable[[2]string{from, to}]
	if !ok {
		return 0, "", false
	}
	micro, ok := parseRate(rate)
	if !ok {
		return 0, "", false
	}
	// amount / 10^expFrom major units × micro / 10^6 × 10^expTo minor
	// units, in big integers: amount × micro overflows int64 near 10^13.
	num := new(big.Int).Mul(big.NewInt(amount), big.NewInt(micro))
	num.Mul(num, big.NewInt(pow10(ledgerd.Currency(to).Exponent())))
	den := big.NewInt(rateScale)
	den.Mul(den, big.NewInt(pow10(ledgerd.Currency(from).Exponent())))
	q := num.Quo(num, den) // both positive: truncation is floor
	if !q.IsInt64() || q.Int64() > int64(ledgerd.MaxAmount) {
		return 0, "", false
	}
	return q.Int64(), rate, true
}

func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}
