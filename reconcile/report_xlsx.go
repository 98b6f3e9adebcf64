package reconcile

import (
	"fmt"
	"io"
	"strings"

	"github.com/ledgerd/ledgerd"
	"github.com/xuri/excelize/v2"
)

// xlsxSheets names the workbook's sheets after the sections.
var xlsxSheets = map[string]string{"run": "Run", "accounts": "Accounts", "breaks": "Breaks"}

// WriteXLSX writes the report as a workbook with the sheets Run, Accounts
// and Breaks, a bold frozen header row on each. Amounts are numeric cells
// written from their exact decimal text (never through a float) with a
// number format showing the currency's decimals; ids and counts are
// numbers; times are text with their offset, as in the CSV.
func (r Report) WriteXLSX(w io.Writer) error {
	f := excelize.NewFile()
	defer f.Close()
	header, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	styles := map[int]int{} // currency exponent → number style
	amountStyle := func(c ledgerd.Currency) (int, error) {
		exp := c.Exponent()
		if s, ok := styles[exp]; ok {
			return s, nil
		}
		format := "#,##0"
		if exp > 0 {
			format += "." + strings.Repeat("0", exp)
		}
		format = format + ";-" + format
		s, err := f.NewStyle(&excelize.Style{CustomNumFmt: &format})
		if err != nil {
			return 0, err
		}
		styles[exp] = s
		return s, nil
	}
	for i, t := range r.tables() {
		sheet := xlsxSheets[t.name]
		if i == 0 {
			if err := f.SetSheetName("Sheet1", sheet); err != nil {
				return fmt.Errorf("xlsx: %w", err)
			}
		} else if _, err := f.NewSheet(sheet); err != nil {
			return fmt.Errorf("xlsx: %w", err)
		}
		for col, name := range t.columns {
			ref, _ := excelize.CoordinatesToCellName(col+1, 1)
			if err := f.SetCellStr(sheet, ref, name); err != nil {
				return fmt.Errorf("xlsx: %w", err)
			}
		}
		last, _ := excelize.CoordinatesToCellName(len(t.columns), 1)
		if err := f.SetCellStyle(sheet, "A1", last, header); err != nil {
			return fmt.Errorf("xlsx: %w", err)
		}
		if err := f.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return fmt.Errorf("xlsx: %w", err)
		}
		for rowN, row := range t.rows {
			for col, c := range row {
				ref, _ := excelize.CoordinatesToCellName(col+1, rowN+2)
				var err error
				switch {
				case c.amount != nil:
					// SetCellDefault stores a numeric string as a number cell,
					// digit for digit.
					if err = f.SetCellDefault(sheet, ref, c.String()); err == nil {
						var s int
						if s, err = amountStyle(c.currency); err == nil {
							err = f.SetCellStyle(sheet, ref, ref, s)
						}
					}
				case c.integer != nil:
					err = f.SetCellInt(sheet, ref, *c.integer)
				case c.text != "":
					err = f.SetCellStr(sheet, ref, c.text)
				}
				if err != nil {
					return fmt.Errorf("xlsx %s %s: %w", sheet, ref, err)
				}
			}
		}
		for col := range t.columns {
			name, _ := excelize.ColumnNumberToName(col + 1)
			if err := f.SetColWidth(sheet, name, name, 18); err != nil {
				return fmt.Errorf("xlsx: %w", err)
			}
		}
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}
