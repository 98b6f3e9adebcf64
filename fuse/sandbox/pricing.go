package sandbox

import (
	"math/big"
	"net/http"
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
	return applyRate(amount, from, to, false)
}

// convertTo is convert the other way round: the smallest amount of from
// whose conversion gives at least want minor units of to,
// ceil(want ÷ rate).
func convertTo(want int64, from, to string) (amount int64, rate string, ok bool) {
	return applyRate(want, from, to, true)
}

// applyRate does the exact arithmetic of convert (inverse false) and
// convertTo (inverse true), in big integers: amount × rate overflows
// int64 near 10^13.
func applyRate(amount int64, from, to string, inverse bool) (int64, string, bool) {
	rate, ok := rateTable[[2]string{from, to}]
	if !ok {
		return 0, "", false
	}
	micro, ok := parseRate(rate)
	if !ok {
		return 0, "", false
	}
	// One major unit of from is micro/10^6 major units of to; in minor
	// units, to = from × micro × 10^expTo ÷ (10^6 × 10^expFrom).
	mul := new(big.Int).Mul(big.NewInt(micro), big.NewInt(pow10(ledgerd.Currency(to).Exponent())))
	div := new(big.Int).Mul(big.NewInt(rateScale), big.NewInt(pow10(ledgerd.Currency(from).Exponent())))
	if inverse {
		mul, div = div, mul
	}
	num := new(big.Int).Mul(big.NewInt(amount), mul)
	if inverse {
		num.Add(num, div).Sub(num, big.NewInt(1)) // round up
	}
	q := num.Quo(num, div) // both positive: truncation is floor
	if !q.IsInt64() || q.Int64() > int64(ledgerd.MaxAmount) {
		return 0, "", false
	}
	return q.Int64(), rate, true
}

// exchangePrice is what an exchange or a quote comes to: from leaves the
// source account, to arrives in the destination, at rate.
type exchangePrice struct {
	from, to int64
	rate     string
}

// price prices an exchange from one currency into another with exactly
// one side fixed [model: the reference does not say which side carries
// the amount of POST /v1/exchange]. A fixed from amount buys floor(from ×
// rate); a fixed to amount costs ceil(to ÷ rate), and exactly to arrives.
// A quote and an exchange priced at the same moment agree: the rates are
// fixed, so a quote is informational and binds nothing.
func price(from, to string, fromAmount, toAmount *int64) (exchangePrice, error) {
	if (fromAmount == nil) == (toAmount == nil) {
		return exchangePrice{}, apiErr(http.StatusBadRequest, "invalid_request",
			"give exactly one of the from amount and the to amount")
	}
	p := exchangePrice{}
	var ok bool
	if fromAmount != nil {
		if err := checkAmount(*fromAmount); err != nil {
			return exchangePrice{}, err
		}
		p.from = *fromAmount
		p.to, p.rate, ok = convert(p.from, from, to)
	} else {
		if err := checkAmount(*toAmount); err != nil {
			return exchangePrice{}, err
		}
		p.to = *toAmount
		p.from, p.rate, ok = convertTo(p.to, from, to)
	}
	switch {
	case !ok:
		return exchangePrice{}, apiErr(http.StatusBadRequest, "unsupported_currency_pair",
			"Fuse does not support currency exchange between %s and %s for this amount", from, to)
	case p.to <= 0:
		return exchangePrice{}, apiErr(http.StatusBadRequest, "amount_too_small",
			"%d %s buys nothing in %s", p.from, from, to)
	case checkAmount(p.from) != nil:
		return exchangePrice{}, apiErr(http.StatusBadRequest, "invalid_amount",
			"%d %s costs %d %s, over the largest amount", p.to, to, p.from, from)
	}
	return p, nil
}

func pow10(n int) int64 {
	v := int64(1)
	for range n {
		v *= 10
	}
	return v
}
