// Command floor measures Pulse's authenticated GET /api/v1/agents?limit=20
// against the request path's floor: a bare net/http server (the peer at
// ../shared/peers/floor) that verifies an HS256 JWT, reads the same 20 agent
// rows from SQLite with modernc and writes the same JSON shape.
//
// Both are separate processes started from built binaries, each on its own
// SQLite file holding 50 agents of one user, and are loaded by wrk
// (-t2 -c64 --latency) alternately, several rounds; it reports the medians
// of req/s and p99 and their ratios. Pulse runs as `pulse serve` does in
// production: the JSON access log is on (written to a file, whose lines are
// counted to show it was), and so are metrics, revocation and scope checks.
//
// It imports nothing of Pulse, so it builds in seconds; bench/floor.sh
// builds both binaries and runs it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	pulseBin := flag.String("pulse", "", "the built pulse binary")
	baseBin := flag.String("baseline", "", "optional: another pulse binary (e.g. main's) measured in the same rounds")
	floorBin := flag.String("floor", "", "the built floor binary")
	dur := flag.Duration("d", 10*time.Second, "duration of each wrk run")
	rounds := flag.Int("rounds", 3, "wrk runs of each target, alternating")
	threads := flag.Int("t", 2, "wrk threads")
	conns := flag.Int("c", 64, "wrk connections")
	agents := flag.Int("agents", 50, "agents seeded for the one user")
	keep := flag.Bool("keep", false, "keep the data dir (database, access log)")
	flag.Parse()
	if *pulseBin == "" || *floorBin == "" {
		fail(errors.New("usage: floor -pulse BIN -floor BIN [-d 10s] [-rounds 3] [-t 2] [-c 64]"))
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		fail(errors.New("wrk not found: apt-get install -y wrk"))
	}
	dir, err := os.MkdirTemp("", "pulse-floor-")
	check(err)
	if *keep {
		fmt.Println("data dir:", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	var targets []target
	pulseTarget := func(name, bin string) {
		sub := filepath.Join(dir, name)
		check(os.Mkdir(sub, 0o700))
		addr, log := freeAddr(), filepath.Join(sub, "pulse.log")
		startPulse(bin, sub, addr, log)
		base := "http://" + addr
		targets = append(targets, target{name: name, url: base + "/api/v1/agents?limit=20", token: seedPulse(base, *agents), log: log})
	}
	if *baseBin != "" {
		pulseTarget("base", *baseBin)
	}
	pulseTarget("pulse", *pulseBin)
	floorAddr := freeAddr()
	_, floorToken := startFloor(*floorBin, filepath.Join(dir, "floor.db"), floorAddr)
	targets = append(targets, target{name: "floor", url: "http://" + floorAddr + "/api/v1/agents?limit=20", token: floorToken})
	defer func() {
		for _, c := range started {
			stop(c)
		}
	}()
	for _, t := range targets {
		// Same shape, same page: both answer 20 items with a cursor.
		body := getBody(t.url, t.token)
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor string           `json:"next_cursor"`
		}
		check(json.Unmarshal(body, &page))
		if len(page.Items) != 20 || page.NextCursor == "" {
			fail(fmt.Errorf("%s: want 20 items and a cursor, got %d items, cursor %q", t.name, len(page.Items), page.NextCursor))
		}
		fmt.Printf("%s: %d bytes per response\n", t.name, len(body))
		runWrk(t, *threads, *conns, 2*time.Second) // warm up: connections, caches, page cache
	}
	linesBefore := map[string]int{}
	for _, t := range targets {
		if t.log != "" {
			linesBefore[t.name] = countLines(t.log)
		}
	}

	fmt.Printf("load average before: %s\n", loadavg())
	results := map[string][]result{}
	for r := 1; r <= *rounds; r++ {
		// Each round starts one target later, so none is always measured
		// first (or last) while the machine's load drifts.
		for i := range targets {
			t := targets[(i+r-1)%len(targets)]
			res := runWrk(t, *threads, *conns, *dur)
			results[t.name] = append(results[t.name], res)
			fmt.Printf("round %d %-5s %8.0f req/s  p50 %7.2f ms  p99 %7.2f ms  load %s  %s\n", r, t.name, res.rps, res.p50, res.p99, loadavg(), res.sockErrs)
		}
	}
	fmt.Printf("load average after: %s\n", loadavg())
	for _, t := range targets {
		if t.log == "" {
			continue
		}
		var reqs float64
		for _, res := range results[t.name] {
			reqs += res.requests
		}
		fmt.Printf("%s access log: %d lines written during the %.0f measured requests\n", t.name, countLines(t.log)-linesBefore[t.name], reqs)
	}

	f := median(results["floor"])
	fmt.Printf("\nmedians of %d rounds, wrk -t%d -c%d -d%s --latency, %d agents, SQLite:\n", *rounds, *threads, *conns, *dur, *agents)
	for _, t := range targets {
		m := median(results[t.name])
		fmt.Printf("  %-5s  %8.0f req/s  p99 %7.2f ms", t.name, m.rps, m.p99)
		if t.name != "floor" {
			fmt.Printf("   /floor: throughput %.2f (target >= 0.80), p99 %.2fx (target <= 1.2x)", m.rps/f.rps, m.p99/f.p99)
		}
		fmt.Println()
	}
}

type target struct{ name, url, token, log string }

type result struct {
	rps, p50, p99 float64 // req/s; ms
	requests      float64
	sockErrs      string // wrk's "Socket errors:" line, if any
}

var (
	reqsRe  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	totalRe = regexp.MustCompile(`(\d+) requests in`)
	pctRe   = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	non2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	sockErr = regexp.MustCompile(`Socket errors: .*`)
)

// runWrk runs wrk once and parses its summary. Any non-2xx response fails
// the measurement rather than flattering it.
func runWrk(t target, threads, conns int, d time.Duration) result {
	cmd := exec.Command("wrk", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s",
		"--latency", "-H", "Authorization: Bearer "+t.token, t.url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		fail(fmt.Errorf("wrk %s: %v\n%s", t.name, err, out))
	}
	s := string(out)
	if m := non2xx.FindStringSubmatch(s); m != nil {
		fail(fmt.Errorf("wrk %s: %s non-2xx responses\n%s", t.name, m[1], s))
	}
	var res result
	// Timeouts (wrk gives up after 2 s) are reported, not fatal: on a
	// loaded machine they are a figure, not a fault.
	res.sockErrs = sockErr.FindString(s)
	m := reqsRe.FindStringSubmatch(s)
	if m == nil {
		fail(fmt.Errorf("wrk %s: no Requests/sec in\n%s", t.name, s))
	}
	res.rps, _ = strconv.ParseFloat(m[1], 64)
	if m := totalRe.FindStringSubmatch(s); m != nil {
		res.requests, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range pctRe.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if m[1] == "50" {
			res.p50 = v
		} else {
			res.p99 = v
		}
	}
	if res.p99 == 0 {
		fail(fmt.Errorf("wrk %s: no latency distribution in\n%s", t.name, s))
	}
	return res
}

// median takes the median req/s and, separately, the median p99.
func median(rs []result) result {
	rps, p99 := make([]float64, len(rs)), make([]float64, len(rs))
	for i, r := range rs {
		rps[i], p99[i] = r.rps, r.p99
	}
	slices.Sort(rps)
	slices.Sort(p99)
	return result{rps: rps[len(rps)/2], p99: p99[len(p99)/2]}
}

func startPulse(bin, dir, addr, logPath string) *exec.Cmd {
	logFile, err := os.Create(logPath)
	check(err)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "PULSE_DATA_DIR="+dir, "PULSE_ADDR="+addr, "PULSE_LOG_LEVEL=info", "PULSE_LOG_FORMAT=json")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	check(cmd.Start())
	started = append(started, cmd)
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			fail(fmt.Errorf("pulse did not become ready:\n%s", b))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seedPulse registers one user, signs in and creates the agents the floor
// seeds: the same names, instructions and model, no tools or tags.
func seedPulse(base string, n int) string {
	post(base+"/api/v1/auth/register", "", "application/json", `{"email":"floor@example.com","password":"floor bench password 1"}`)
	body := post(base+"/api/v1/auth/token", "", "application/x-www-form-urlencoded",
		url.Values{"grant_type": {"password"}, "username": {"floor@example.com"}, "password": {"floor bench password 1"}}.Encode())
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	check(json.Unmarshal(body, &tok))
	for i := range n {
		post(base+"/api/v1/agents", tok.AccessToken, "application/json",
			fmt.Sprintf(`{"name":"agent %d","instructions":"You are helpful number %d","model":"openai/gpt-4o-mini"}`, i, i))
	}
	return tok.AccessToken
}

// startFloor runs the peer, which seeds its own database and prints the
// token it accepts as its first line.
func startFloor(bin, dbPath, addr string) (*exec.Cmd, string) {
	cmd := exec.Command(bin, addr, dbPath)
	out, err := cmd.StdoutPipe()
	check(err)
	cmd.Stderr = os.Stderr
	check(cmd.Start())
	started = append(started, cmd)
	line, err := bufio.NewReader(out).ReadString('\n')
	check(err)
	go func() { _, _ = io.Copy(io.Discard, out) }()
	tok := strings.TrimSpace(line)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return cmd, tok
		}
		if time.Now().After(deadline) {
			fail(fmt.Errorf("floor did not listen on %s", addr))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// started are the child processes, stopped by fail too.
var started []*exec.Cmd

func stop(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	return ln.Addr().String()
}

func post(u, token, ct, body string) []byte {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, u, strings.NewReader(body))
	check(err)
	req.Header.Set("Content-Type", ct)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(req)
}

func getBody(u, token string) []byte {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u, nil)
	check(err)
	req.Header.Set("Authorization", "Bearer "+token)
	return do(req)
}

func do(req *http.Request) []byte {
	res, err := http.DefaultClient.Do(req)
	check(err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		fail(fmt.Errorf("%s %s: %d %s", req.Method, req.URL, res.StatusCode, b))
	}
	return b
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	check(err)
	return bytes.Count(b, []byte(`"msg":"http request"`))
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "floor:", err)
	for _, c := range started {
		stop(c)
	}
	os.Exit(1)
}
