// Package store keeps opsbot's state in SQLite: incidents, their alerts and
// timeline, and the ids of applied events. One writer connection applies
// the reducer's batches; a pool of read-only connections serves queries.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/opsbot/opsbot/incidents"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite database.
type Store struct {
	w            *sql.DB // the one writer
	r            *sql.DB // readers
	rules        incidents.Rules
	now          func() time.Time
	targets      []string
	knownTargets map[string]bool
	routes       *incidents.Routes
	st           statements
	stmts        []*sql.Stmt // every prepared statement, to close
}

// Options tune the database.
type Options struct {
	// Synchronous is SQLite's synchronous pragma: "full" (default; a commit
	// survives power loss) or "normal" (survives a crash of opsbot).
	Synchronous string
	Rules       incidents.Rules
	Now         func() time.Time
	// Targets are the notification targets; Routes choose among them for
	// each incident (nil: all of them).
	Targets []string
	Routes  *incidents.Routes
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(path string, opts Options) (*Store, error) {
	if opts.Synchronous == "" {
		opts.Synchronous = "full"
	}
	switch opts.Synchronous {
	case "full", "normal":
	default:
		return nil, fmt.Errorf("store: synchronous must be full or normal, not %q", opts.Synchronous)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "5000")
	q.Set("_txlock", "immediate")
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", opts.Synchronous)
	q.Set("_cache_size", "-65536")
	w := sql.OpenDB(connector("file:" + path + "?" + q.Encode()))
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, rules: opts.Rules, now: opts.Now, targets: opts.Targets, routes: opts.Routes, knownTargets: map[string]bool{}}
	for _, t := range opts.Targets {
		s.knownTargets[t] = true
	}
	if err := s.migrate(context.Background()); err != nil {
		w.Close()
		return nil, err
	}
	if err := s.prepare(context.Background()); err != nil {
		w.Close()
		return nil, err
	}
	rq := url.Values{}
	rq.Set("mode", "ro")
	rq.Set("_busy_timeout", "5000")
	rq.Set("_query_only", "1")
	r := sql.OpenDB(connector("file:" + path + "?" + rq.Encode()))
	r.SetMaxOpenConns(4)
	s.r = r
	return s, nil
}

// pragmas are set on every connection: reading pages through a memory map
// and keeping temporary b-trees in memory save the reducer about a tenth.
const pragmas = `PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY;`

// connector opens connections of dsn with pragmas set, without registering
// a driver globally.
type connector string

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.Driver().Open(string(c)) }

func (connector) Driver() driver.Driver {
	return &sqlite3.SQLiteDriver{ConnectHook: func(conn *sqlite3.SQLiteConn) error {
		_, err := conn.Exec(pragmas, nil)
		return err
	}}
}

// Close closes the database; a checkpoint folds the WAL into the file.
func (s *Store) Close() error {
	var rerr error
	for _, st := range s.stmts {
		rerr = errors.Join(rerr, st.Close())
	}
	rerr = errors.Join(rerr, s.r.Close())
	if _, err := s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		rerr = errors.Join(rerr, err)
	}
	return errors.Join(rerr, s.w.Close())
}

// Ping checks that both the writer and the readers answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: writer: %w", err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		return fmt.Errorf("store: reader: %w", err)
	}
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		var n int
		if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return fmt.Errorf("store: migration %s: %w", version, err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, s.now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", version, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %s: %w", version, err)
		}
	}
	return nil
}

// nanos and fromNanos map times to the database's integers.
func nanos(t time.Time) int64 { return t.UnixNano() }

func nullNanos(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNull(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}
