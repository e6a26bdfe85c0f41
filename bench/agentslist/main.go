// Command agentslist load-tests authenticated GET /api/v1/agents?limit=20
// on embedded SQLite against a floor: a bare net/http handler that verifies
// the same JWT (Ed25519, from the server's JWKS, no cache) and reads the
// same 20 rows from the same SQLite file. Both run in this process, are hit
// alternately by the same load generator (N connections, fixed duration),
// and the medians of several rounds are reported with their ratio.
package main

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	_ "modernc.org/sqlite"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/platform/config"
)

func main() {
	conns := flag.Int("c", 64, "concurrent connections")
	dur := flag.Duration("d", 8*time.Second, "duration of each measurement")
	rounds := flag.Int("rounds", 3, "measurements of each target")
	flag.Parse()

	dir, err := os.MkdirTemp("", "pulse-bench-")
	check(err)
	defer os.RemoveAll(dir)
	cfg, err := config.Register(nil).Load(func(k string) (string, bool) {
		v, ok := map[string]string{"PULSE_DATA_DIR": dir, "PULSE_LOG_LEVEL": "error"}[k]
		return v, ok
	})
	check(err)
	ctx := context.Background()
	a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler), app.Options{})
	check(err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go func() { _ = a.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns * 2, MaxConnsPerHost: *conns * 2}}

	// One user with 50 agents.
	post(client, base+"/api/v1/auth/register", "", `{"email":"bench@example.com","password":"bench password 123"}`, "application/json")
	tokBody := post(client, base+"/api/v1/auth/token", "", url.Values{"grant_type": {"password"}, "username": {"bench@example.com"}, "password": {"bench password 123"}}.Encode(), "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	check(json.Unmarshal(tokBody, &tok))
	for i := range 50 {
		post(client, base+"/api/v1/agents", tok.AccessToken, fmt.Sprintf(`{"name":"Agent %d","description":"benchmark agent","instructions":"Help with planning.","model":"openai/gpt-4o-mini","tools":[{"type":"builtin","name":"current_time"}],"tags":["bench"]}`, i), "application/json")
	}

	floor := startFloor(client, base, filepath.Join(dir, "pulse.db"))
	targets := []struct{ name, url string }{{"pulse", base + "/api/v1/agents?limit=20"}, {"floor", floor + "/agents?limit=20"}}
	results := map[string][]result{}
	for r := 0; r < *rounds; r++ {
		for _, t := range targets {
			res := load(client, t.url, tok.AccessToken, *conns, *dur)
			results[t.name] = append(results[t.name], res)
			fmt.Printf("round %d %-5s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d\n", r+1, t.name, res.rps, ms(res.p50), ms(res.p99), res.errors)
		}
	}
	p, f := median(results["pulse"]), median(results["floor"])
	fmt.Printf("\nmedian of %d rounds, %d connections, %s each:\n", *rounds, *conns, *dur)
	fmt.Printf("  pulse  %8.0f req/s  p99 %6.2f ms\n", p.rps, ms(p.p99))
	fmt.Printf("  floor  %8.0f req/s  p99 %6.2f ms\n", f.rps, ms(f.p99))
	fmt.Printf("  pulse/floor throughput %.0f%% (target >= 70%%), p99 %.2fx (target <= 1.5x)\n", 100*p.rps/f.rps, float64(p.p99)/float64(f.p99))
}

// startFloor serves the same rows with the least possible work: verify the
// JWT's Ed25519 signature against the JWKS key, one query, encode.
func startFloor(client *http.Client, base, dbPath string) string {
	var jwks struct {
		Keys []struct{ Kid, X string }
	}
	check(json.Unmarshal(get(client, base+"/.well-known/jwks.json"), &jwks))
	keys := map[string]ed25519.PublicKey{}
	for _, k := range jwks.Keys {
		b, err := base64.RawURLEncoding.DecodeString(k.X)
		check(err)
		keys[k.Kid] = b
	}
	db, err := sql.Open("sqlite", dbPath+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	check(err)
	db.SetMaxOpenConns(4)
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithExpirationRequired())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agents", func(w http.ResponseWriter, r *http.Request) {
		raw := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		claims := jwt.MapClaims{}
		_, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) { return keys[t.Header["kid"].(string)], nil })
		if err != nil {
			http.Error(w, "unauthorized", 401)
			return
		}
		sub, _ := claims["sub"].(string)
		rows, err := db.QueryContext(r.Context(), `SELECT a.id, a.name, a.description, a.visibility, a.tags, a.current_version, v.spec
			FROM agents a JOIN agent_versions v ON v.agent_id = a.id AND v.version = a.current_version
			WHERE a.owner_id = ? ORDER BY a.id DESC LIMIT 20`, sub)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer rows.Close()
		type item struct {
			ID, Name, Description, Visibility string
			Tags                              json.RawMessage
			Version                           int
			Spec                              json.RawMessage
		}
		var items []item
		for rows.Next() {
			var it item
			var tags, spec string
			if err := rows.Scan(&it.ID, &it.Name, &it.Description, &it.Visibility, &tags, &it.Version, &spec); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			it.Tags, it.Spec = json.RawMessage(tags), json.RawMessage(spec)
			items = append(items, it)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go func() { _ = http.Serve(ln, mux) }()
	return "http://" + ln.Addr().String()
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	errors   int64
}

// load keeps conns requests in flight for d and measures each one.
func load(client *http.Client, target, token string, conns int, d time.Duration) result {
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			local := make([]time.Duration, 0, 4096)
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodGet, target, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				start := time.Now()
				res, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					errs.Add(1)
					continue
				}
				local = append(local, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		return result{errors: errs.Load()}
	}
	return result{rps: float64(len(lat)) / d.Seconds(), p50: lat[len(lat)/2], p99: lat[len(lat)*99/100], errors: errs.Load()}
}

func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int {
		if a.rps < b.rps {
			return -1
		}
		return 1
	})
	m := s[len(s)/2]
	p99s := make([]time.Duration, len(rs))
	for i, r := range rs {
		p99s[i] = r.p99
	}
	slices.Sort(p99s)
	m.p99 = p99s[len(p99s)/2]
	return m
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func post(c *http.Client, u, token, body, ct string) []byte {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	check(err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		panic(fmt.Sprintf("POST %s: %d %s", u, res.StatusCode, b))
	}
	return b
}

func get(c *http.Client, u string) []byte {
	res, err := c.Get(u)
	check(err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return b
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
