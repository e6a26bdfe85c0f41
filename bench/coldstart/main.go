// Command coldstart measures how long `pulse serve` takes from exec to a 200
// from /readyz, and its resident memory once idle, on embedded SQLite.
//
// Each run starts the binary in a new empty data dir ("first start": creates
// the database and applies every migration) and then again on that dir
// ("restart"). It prints the median, min and max of each measurement.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	bin := flag.String("bin", "bench/out/pulse", "pulse binary")
	runs := flag.Int("runs", 10, "runs per measurement")
	idle := flag.Duration("idle", 3*time.Second, "how long to stay idle before reading RSS")
	flag.Parse()

	var first, restart []time.Duration
	var rss, anon []float64
	for i := 0; i < *runs; i++ {
		dir, err := os.MkdirTemp("", "pulse-coldstart-")
		check(err)
		d, _ := run(*bin, dir, 0)
		first = append(first, d)
		d, r := run(*bin, dir, *idle)
		restart = append(restart, d)
		rss, anon = append(rss, r.total), append(anon, r.anon)
		os.RemoveAll(dir)
	}
	fmt.Printf("pulse serve on SQLite, %d runs each (median [min-max])\n", *runs)
	fmt.Printf("  first start to /readyz 200 (new data dir, all migrations): %s\n", summary(first))
	fmt.Printf("  restart to /readyz 200 (existing data dir):                 %s\n", summary(restart))
	slices.Sort(rss)
	slices.Sort(anon)
	fmt.Printf("  idle RSS after %s:                                          %.1f MiB [%.1f-%.1f]\n", *idle, rss[len(rss)/2], rss[0], rss[len(rss)-1])
	// Most of the RSS is the binary's own pages (file-backed, shared and
	// reclaimable); the anonymous part is what the process really allocated.
	fmt.Printf("    of which anonymous (heap, stacks):                          %.1f MiB [%.1f-%.1f]\n", anon[len(anon)/2], anon[0], anon[len(anon)-1])
}

// run starts the binary, polls /readyz every millisecond until 200, then
// optionally idles and reads VmRSS, and stops it with SIGTERM.
func run(bin, dir string, idle time.Duration) (time.Duration, memory) {
	port := freePort()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:"+port, "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	start := time.Now()
	check(cmd.Start())
	url := "http://127.0.0.1:" + port + "/readyz"
	client := &http.Client{Timeout: time.Second}
	var ready time.Duration
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		res, err := client.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				ready = time.Since(start)
				break
			}
		}
	}
	if ready == 0 {
		panic("pulse did not become ready")
	}
	client.CloseIdleConnections()
	var rss memory
	if idle > 0 {
		time.Sleep(idle)
		rss = readMemory(cmd.Process.Pid)
	}
	check(cmd.Process.Signal(syscall.SIGTERM))
	check(cmd.Wait())
	return ready, rss
}

// memory is a process's resident set, in MiB.
type memory struct{ total, anon float64 }

func readMemory(pid int) memory {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for key, dst := range map[string]*float64{"VmRSS:": &m.total, "RssAnon:": &m.anon} {
			if v, ok := strings.CutPrefix(sc.Text(), key); ok {
				kb, err := strconv.Atoi(strings.Fields(v)[0])
				check(err)
				*dst = float64(kb) / 1024
			}
		}
	}
	if m.total == 0 {
		panic("no VmRSS")
	}
	return m
}

func summary(ds []time.Duration) string {
	slices.Sort(ds)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	return fmt.Sprintf("%s [%s-%s]", ms(ds[len(ds)/2]), ms(ds[0]), ms(ds[len(ds)-1]))
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
