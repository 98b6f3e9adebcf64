package term

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	syncer "github.com/ledgerd/ledgerd/sync"
)

// ProgressBar redraws one terminal line: accounts done, transactions
// ingested, rate. Redraws are limited to ten a second; log lines written
// through LogWriter appear above it.
type ProgressBar struct {
	w     io.Writer
	mu    sync.Mutex
	last  time.Time
	state syncer.Progress
	drawn bool
}

// NewProgressBar draws on w.
func NewProgressBar(w io.Writer) *ProgressBar { return &ProgressBar{w: w} }

const barWidth = 24

// Update shows p, at most ten times a second but always the last account.
func (b *ProgressBar) Update(p syncer.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state = p
	if now := time.Now(); now.Sub(b.last) >= 100*time.Millisecond || p.AccountsDone == p.AccountsTotal {
		b.last = now
		b.draw()
	}
}

// LogWriter returns w wrapped so that each write first clears the bar's
// line and then draws the bar again.
func (b *ProgressBar) LogWriter(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.drawn {
			fmt.Fprint(b.w, "\r\033[K")
		}
		n, err := w.Write(p)
		if b.drawn {
			b.draw()
		}
		return n, err
	})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// draw writes the bar; b.mu is held.
func (b *ProgressBar) draw() {
	p := b.state
	filled := 0
	if p.AccountsTotal > 0 {
		filled = barWidth * p.AccountsDone / p.AccountsTotal
	}
	rate := 0
	if s := p.Elapsed.Seconds(); s > 0 {
		rate = int(float64(p.Transactions) / s)
	}
	failed := ""
	if p.AccountsFailed > 0 {
		failed = fmt.Sprintf(" (%d failed)", p.AccountsFailed)
	}
	fmt.Fprintf(b.w, "\r\033[K[%s%s] %d/%d accounts%s  %s transactions  %s/s",
		strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled),
		p.AccountsDone, p.AccountsTotal, failed, Thousands(p.Transactions), Thousands(rate))
	b.drawn = true
}

// Done draws the final state and ends the line.
func (b *ProgressBar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		b.draw()
		fmt.Fprintln(b.w)
	}
}
