package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"net/url"
	"path/filepath"

	"github.com/ledgerd/ledgerd/webhook"
)

// The durable floor of the webhook benchmark: the least work a webhook
// receiver can do and still be durable before it answers, with SQLite. Each
// request's body is stored with its event_id (the dedupe key, in a UNIQUE
// index) by a minimal group-commit writer on a WAL file with
// synchronous=FULL: no validation, no ledger, no hash chain. It anchors the
// ledgerd row: the gap between the no-op ceiling and this floor is what
// durability on SQLite costs on this machine; the gap between the floor and
// ledgerd is what the ledger costs.

// floorReq is one request waiting for its commit.
type floorReq struct {
	eventID string
	body    []byte
	done    chan error
}

// floorStore is the minimal durable store.
type floorStore struct {
	db   *sql.DB
	reqs chan *floorReq
	quit chan struct{}
}

func openFloorStore(dir string) (*floorStore, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "floor.db")+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, raw BLOB NOT NULL)`); err != nil {
		db.Close()
		return nil, err
	}
	s := &floorStore{db: db, reqs: make(chan *floorReq, 1024), quit: make(chan struct{})}
	go s.loop()
	return s, nil
}

// loop takes everything queued, inserts it in one transaction and commits
// once.
func (s *floorStore) loop() {
	defer close(s.quit)
	for r := range s.reqs {
		batch := []*floorReq{r}
	drain:
		for {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := s.commit(batch)
		for _, r := range batch {
			r.done <- err
		}
	}
}

func (s *floorStore) commit(batch []*floorReq) error {
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	st, err := tx.Prepare(`INSERT INTO events (event_id, raw) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING`)
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	for _, r := range batch {
		if _, err := st.Exec(r.eventID, r.body); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

func (s *floorStore) close() {
	close(s.reqs)
	<-s.quit
	s.db.Close()
}

// eventIDKey precedes the event_id in every benchmark body.
var eventIDKey = []byte(`"event_id":"`)

// handler stores the body, then answers as ledgerd does.
func (s *floorStore) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhook.MaxBody))
		var id []byte
		if i := bytes.Index(body, eventIDKey); err == nil && i >= 0 {
			id = body[i+len(eventIDKey):]
			id = id[:max(0, bytes.IndexByte(id, '"'))]
		}
		if len(id) == 0 {
			http.Error(w, "no event_id", http.StatusBadRequest)
			return
		}
		req := &floorReq{eventID: string(id), body: body, done: make(chan error, 1)}
		s.reqs <- req
		if err := <-req.done; err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{\"received\":true}\n")
	})
}
