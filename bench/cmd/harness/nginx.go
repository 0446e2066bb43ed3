package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The nginx floor: Debian's nginx as a plain reverse proxy (proxy_pass, keep-alive upstream connections, no
// buffering) in front of the same fake as the other targets. It is what a C proxy costs for one hop; the
// gateway is held to ratios against it (issue 9).
//
// On Debian bookworm the binary is in the package "nginx"; nginx-light and nginx-core are metapackages that
// depend on it and add dynamic modules, none of which this configuration loads. The harness uses, in order:
// --nginx, nginx on PATH, /usr/sbin/nginx, <module root>/bin/nginx, and else downloads the package with
// `apt-get download nginx` (no root needed) and unpacks its binary into bin/nginx (as `make nginx-dep` does).
// When none of these works the nginx column is left out of the report, with the reason.

// nginxPackage is the Debian package that holds /usr/sbin/nginx.
const nginxPackage = "nginx"

// prepareNginx finds (or fetches) the nginx binary and checks that it runs.
func prepareNginx(ctx context.Context, h *harness) error {
	bin, err := findNginx(ctx, h.flags.nginx, h.root)
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, bin, "-v").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s -v: %w: %s", bin, err, strings.TrimSpace(string(out)))
	}
	h.nginxBin = bin
	h.logf("nginx: %s (%s)", bin, strings.TrimSpace(strings.TrimPrefix(string(out), "nginx version: ")))
	return nil
}

// findNginx returns the nginx binary to run: flag when set ("off" turns the target off), else the first
// nginx found, else one fetched into root/bin.
func findNginx(ctx context.Context, flag, root string) (string, error) {
	switch flag {
	case "off":
		return "", errors.New("turned off with --nginx off")
	case "":
	default:
		return filepath.Abs(flag)
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	local := filepath.Join(root, "bin", "nginx")
	for _, p := range []string{"/usr/sbin/nginx", local} {
		if isExecutable(p) {
			return p, nil
		}
	}
	if err := fetchNginx(ctx, local); err != nil {
		return "", fmt.Errorf("nginx is not installed and could not be fetched: %w", err)
	}
	return local, nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// fetchNginx downloads Debian's nginx package with apt-get (the machine's configured sources, no root) and
// copies its binary to dest.
func fetchNginx(ctx context.Context, dest string) error {
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (not a Debian-like system?)", tool)
		}
	}
	tmp, err := os.MkdirTemp("", "switchyard-nginx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(os.Stderr, "fetching nginx: apt-get download %s\n", nginxPackage)
	get := exec.CommandContext(ctx, "apt-get", "download", nginxPackage)
	get.Dir = tmp
	if out, err := get.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download %s: %w: %s", nginxPackage, err, lastLine(out))
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, nginxPackage+"_*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download %s: expected one .deb, found %d", nginxPackage, len(debs))
	}
	x := filepath.Join(tmp, "x")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], x).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x: %w: %s", err, lastLine(out))
	}
	return copyExecutable(filepath.Join(x, "usr", "sbin", "nginx"), dest)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// copyExecutable copies src to dest (mode 0755) through a temporary file, so that dest is never half written.
func copyExecutable(src, dest string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".nginx-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}

// nginxConf is a self-contained configuration (no include, no modules, no mime.types): one server proxying
// everything to the fake over keep-alive HTTP/1.1 connections, without buffering answers, so that stream
// events are forwarded as they arrive.
//
// keepalive_requests is raised on both sides: at its default (1,000) nginx closes a connection after that many
// requests, and the load generator's reconnections would be measured as latency. The temporary-file paths
// are compiled in under /var/lib/nginx, which nginx creates at start: they are moved to dir.
func nginxConf(dir, listen, upstream string, workers int, root bool) string {
	var b strings.Builder
	if root {
		// As root the workers would run as nobody, who cannot enter the harness's private temporary directory.
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, `worker_processes %d;
error_log %s warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    upstream fake {
        server %s;
        keepalive 256;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }
    server {
        listen %s;
        location / {
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
`, workers, filepath.Join(dir, "error.log"), filepath.Join(dir, "client_body"), filepath.Join(dir, "proxy"),
		filepath.Join(dir, "fastcgi"), filepath.Join(dir, "uwsgi"), filepath.Join(dir, "scgi"), upstream, listen)
	return b.String()
}

// startNginx starts nginx in the foreground (-g 'daemon off'), its prefix, configuration, pid file and error
// log in a directory of its own. Its workers are its children: the CPU time and memory charged to the target
// are those of the master and every worker (process.tree).
func startNginx(ctx context.Context, h *harness, up endpoint) (endpoint, error) {
	if h.nginxBin == "" {
		return endpoint{}, errors.New("no nginx binary (prepare was not run)")
	}
	addr, err := freeAddr()
	if err != nil {
		return endpoint{}, err
	}
	dir := filepath.Join(h.dir, "nginx-"+h.upstream)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return endpoint{}, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	text := nginxConf(dir, addr, strings.TrimPrefix(up.url, "http://"), h.flags.nginxWorkers, os.Geteuid() == 0)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return endpoint{}, err
	}
	p, err := h.start("nginx", h.nginxBin, "-p", dir, "-c", conf,
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+";")
	if err != nil {
		return endpoint{}, err
	}
	p.tree = true
	if err := p.waitReady(ctx, addr, ""); err != nil {
		if b, rerr := os.ReadFile(filepath.Join(dir, "error.log")); rerr == nil && len(b) > 0 {
			err = fmt.Errorf("%w\nerror.log: %s", err, lastLine(b))
		}
		return endpoint{}, err
	}
	// nginx forwards the Authorization header: clients use the upstream's key.
	return endpoint{url: "http://" + addr, key: up.key, proc: p}, nil
}
