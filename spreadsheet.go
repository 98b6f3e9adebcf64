package ledgerd

import "strings"

// SpreadsheetText returns s made safe to open in a spreadsheet, for a CSV
// cell of text. Excel, LibreOffice and Google Sheets read a cell that
// starts with =, +, -, @, a tab or a carriage return as a formula ("CSV
// injection"), and the text of reports and exports comes in part from
// outside (account names, Fuse references, notes): such a cell gets a
// leading apostrophe, which spreadsheets take as "this is text" and do
// not display. Amounts never pass through here: "-12.34" must stay a
// number.
func SpreadsheetText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
