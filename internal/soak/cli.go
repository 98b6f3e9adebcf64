package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ledgerd/ledgerd/fuse"
	"github.com/ledgerd/ledgerd/fuse/sandbox"
)

// The commands an operator runs from the shell that write the file while
// serve runs (and is killed): each must leave the book coherent beside the
// daemon's own writer.
const (
	cliBackfill  = "backfill"
	cliReconcile = "reconcile"
	cliReplay    = "quarantine replay"
	cliAck       = "breaks ack"
	cliMigrate   = "migrate"
)

var cliCycle = []string{cliBackfill, cliReplay, cliReconcile, cliAck, cliMigrate}

// cliWriters runs the writing commands one after another, in turn, until
// ctx ends, each started at a random moment of the daemon's life (up,
// starting, killed).
func (s *soak) cliWriters(ctx context.Context, rng *rand.Rand) {
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(rng.IntN(int(s.o.cliEvery/time.Millisecond)+1)) * time.Millisecond):
		}
		// The command itself is not cut short by the traffic's end: a
		// write under way finishes (kills are serve's).
		switch name := cliCycle[i%len(cliCycle)]; name {
		case cliBackfill:
			s.cli(name, "backfill")
		case cliReconcile:
			s.cli(name, "reconcile")
		case cliMigrate:
			s.cli(name, "migrate")
		case cliReplay:
			s.replay(rng)
		case cliAck:
			s.ack()
		}
	}
}

// cli runs one command and records how it went (name "": a read, not
// counted). Exit 1 is an answer
// (backfill: an account failed under the API faults; reconcile: breaks),
// except when the command says the database was busy or unavailable: a
// command that fails beside serve is what the soak looks for.
func (s *soak) cli(name string, args ...string) (string, bool) {
	code, out, errOut, err := s.d.command(context.Background(), args...)
	busy := strings.Contains(errOut, "database is locked") || strings.Contains(errOut, "storage unavailable")
	ok := err == nil && (code == 0 || code == 1 && !busy && (name == cliBackfill || name == cliReconcile))
	s.mu.Lock()
	defer s.mu.Unlock()
	if name != "" {
		s.cliRuns[name]++
	}
	if !ok {
		s.cliFailures = append(s.cliFailures, fmt.Sprintf("ledgerd %s: exit %d (%v): %s", strings.Join(args, " "), code, err,
			clipText(strings.TrimSpace(errOut))))
	}
	return out, ok
}

// replay has serve quarantine the body of an event (one the drop fault
// kept from serve, if any: then the replay books it), by posting it with a
// content type serve refuses, and replays it with `ledgerd quarantine
// replay`. While serve is down there is nothing to quarantine.
func (s *soak) replay(rng *rand.Rand) {
	events := s.sb.Events()
	if len(events) == 0 {
		return
	}
	dropped := map[string]bool{}
	for _, d := range s.sb.Deliveries() {
		if d.Dropped {
			dropped[d.EventID] = true
		}
	}
	s.mu.Lock()
	var candidates []sandbox.Event
	for _, ev := range events {
		if dropped[ev.EventID] && !s.replayed[ev.EventID] {
			candidates = append(candidates, ev)
		}
	}
	if len(candidates) == 0 {
		candidates = events
	}
	ev := candidates[rng.IntN(len(candidates))]
	s.replayed[ev.EventID] = true
	s.mu.Unlock()

	req, err := http.NewRequest(http.MethodPost, "http://"+s.d.addr+"/webhooks/fuse", bytes.NewReader(ev.Body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "text/plain") // quarantined as unsupported_media_type
	req.Header.Set(fuse.HeaderSignature, sandbox.Sign(webhookSecret, ev.Body))
	resp, err := s.hc.Do(req)
	if err != nil {
		return // serve is down
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		return // not kept (503: storage busy); nothing to replay
	}
	ids, err := s.heldQuarantine()
	if err != nil {
		s.mu.Lock()
		s.cliFailures = append(s.cliFailures, fmt.Sprintf("read held quarantine: %v", err))
		s.mu.Unlock()
		return
	}
	for _, id := range ids {
		s.cli(cliReplay, "quarantine", "replay", strconv.FormatInt(id, 10))
	}
}

// heldQuarantine lists the quarantined bodies not replayed yet.
func (s *soak) heldQuarantine() ([]int64, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.o.workDir, "ledgerd.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query(`SELECT id FROM quarantine WHERE state = 'held' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// ack acknowledges the oldest open break, if a reconciliation has found
// one (missing_in_ledger while webhooks are dropped and not backfilled
// yet, typically).
func (s *soak) ack() {
	out, ok := s.cli("", "breaks", "list", "--state", "open", "--json")
	if !ok {
		return
	}
	var breaks []struct {
		ID int64 `json:"break_id"`
	}
	if err := json.Unmarshal([]byte(out), &breaks); err != nil || len(breaks) == 0 {
		return
	}
	s.cli(cliAck, "breaks", "ack", strconv.FormatInt(breaks[0].ID, 10), "--note", "soak: acknowledged beside a live serve")
}

// verifyAfterKill runs `ledgerd verify` on the file serve was killed on,
// before it starts again (command writers may be running).
func (s *soak) verifyAfterKill() error {
	code, out, errOut, err := s.d.command(context.Background(), "verify")
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.verifyRuns++
	if code != 0 {
		s.verifyFailures = append(s.verifyFailures, fmt.Sprintf("verify after kill %d: exit %d\n%s",
			s.kills.Load(), code, clipText(out+errOut)))
	}
	return nil
}

// clipText keeps a command's output short enough for the summary.
func clipText(s string) string {
	const limit = 1500
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}
