package config

import (
	"fmt"
	"os"
	"strings"
)

func (v *validator) secrets(entries secretEntries) []Secret {
	var out []Secret
	ids := map[string]bool{}
	for i, e := range entries {
		k := fmt.Sprintf("secrets[%d]", i)
		if e.Err != nil {
			v.addf(k, "%v", e.Err)
			continue
		}
		switch {
		case e.ID == "":
			v.addf(k, "missing id=: want id=NAME,env=VAR or id=NAME,src=PATH")
			continue
		case e.Env != "" && e.Src != "":
			v.addf(k, "secret %q has both env= and src=: give one", e.ID)
			continue
		case ids[e.ID]:
			v.addf(k, "secret id %q is given twice", e.ID)
			continue
		}
		ids[e.ID] = true
		if e.Env == "" && e.Src == "" {
			// Like buildctl: a bare id reads the variable of the same name.
			e.Env = e.ID
		}
		if e.Env != "" {
			if _, ok := v.env(e.Env); !ok {
				v.addf(k, "secret %q: environment variable %s is not set: export it in the job (e.g. from the agent's secrets) or use src=", e.ID, e.Env)
				continue
			}
		} else {
			src, _, ok := v.path(k, "src", expandHome(e.Src, v.env))
			if !ok {
				continue
			}
			e.Src = src
			if fi, err := os.Stat(e.Src); err != nil || fi.IsDir() {
				v.addf(k, "secret %q: file %s does not exist", e.ID, e.Src)
				continue
			}
		}
		out = append(out, Secret{ID: e.ID, Env: e.Env, Src: e.Src})
	}
	return out
}

func (v *validator) ssh(entries sshList) []SSH {
	var out []SSH
	for i, s := range entries {
		k := fmt.Sprintf("ssh[%d]", i)
		id, paths, hasPaths := strings.Cut(s, "=")
		if id == "" {
			v.addf(k, "%q: want default or id=/path/to/socket-or-key", s)
			continue
		}
		e := SSH{ID: id}
		if hasPaths {
			for _, p := range strings.Split(paths, ",") {
				p, _, ok := v.path(k, id, expandHome(p, v.env))
				if !ok {
					continue
				}
				if _, err := os.Stat(p); err != nil {
					v.addf(k, "ssh %q: %s does not exist", id, p)
					continue
				}
				e.Paths = append(e.Paths, p)
			}
		} else if v.env.Get("SSH_AUTH_SOCK") == "" {
			v.addf(k, "ssh %q uses the SSH agent but SSH_AUTH_SOCK is not set: start an agent in the job or give id=/path/to/key", id)
			continue
		}
		out = append(out, e)
	}
	return out
}
