package bake

import (
	"strings"

	"github.com/pkg/errors"
	"github.com/remote-buildkit/remote-buildkit/internal/third_party/buildflags"
	"github.com/tonistiigi/go-csvvalue"
)

type EntitlementKey string

const (
	EntitlementKeyNetworkHost       EntitlementKey = "network.host"
	EntitlementKeySecurityInsecure  EntitlementKey = "security.insecure"
	EntitlementKeyDevice            EntitlementKey = "device"
	EntitlementKeyFSRead            EntitlementKey = "fs.read"
	EntitlementKeyFSWrite           EntitlementKey = "fs.write"
	EntitlementKeyFS                EntitlementKey = "fs"
	EntitlementKeyImagePush         EntitlementKey = "image.push"
	EntitlementKeyImageLoad         EntitlementKey = "image.load"
	EntitlementKeyImage             EntitlementKey = "image"
	EntitlementKeySSH               EntitlementKey = "ssh"
	EntitlementKeyBuildxLocalDelete EntitlementKey = EntitlementKey(buildflags.EntitlementBuildxLocalDelete)
)

type EntitlementConf struct {
	NetworkHost       bool
	SecurityInsecure  bool
	Devices           *EntitlementsDevicesConf
	FSRead            []string
	FSWrite           []string
	ImagePush         []string
	ImageLoad         []string
	SSH               bool
	LocalOutputDelete bool
}

type EntitlementsDevicesConf struct {
	All     bool
	Devices map[string]struct{}
}

func ParseEntitlements(in []string) (EntitlementConf, error) {
	var conf EntitlementConf
	for _, e := range in {
		switch e {
		case string(EntitlementKeyNetworkHost):
			conf.NetworkHost = true
		case string(EntitlementKeySecurityInsecure):
			conf.SecurityInsecure = true
		case string(EntitlementKeySSH):
			conf.SSH = true
		case string(EntitlementKeyBuildxLocalDelete):
			conf.LocalOutputDelete = true
		default:
			k, v, _ := strings.Cut(e, "=")
			switch k {
			case string(EntitlementKeyDevice):
				if v == "" {
					conf.Devices = &EntitlementsDevicesConf{All: true}
					continue
				}
				fields, err := csvvalue.Fields(v, nil)
				if err != nil {
					return EntitlementConf{}, errors.Wrapf(err, "failed to parse device entitlement %q", v)
				}
				if conf.Devices == nil {
					conf.Devices = &EntitlementsDevicesConf{}
				}
				if conf.Devices.Devices == nil {
					conf.Devices.Devices = make(map[string]struct{}, 0)
				}
				conf.Devices.Devices[fields[0]] = struct{}{}
			case string(EntitlementKeyFSRead):
				conf.FSRead = append(conf.FSRead, v)
			case string(EntitlementKeyFSWrite):
				conf.FSWrite = append(conf.FSWrite, v)
			case string(EntitlementKeyFS):
				conf.FSRead = append(conf.FSRead, v)
				conf.FSWrite = append(conf.FSWrite, v)
			case string(EntitlementKeyImagePush):
				conf.ImagePush = append(conf.ImagePush, v)
			case string(EntitlementKeyImageLoad):
				conf.ImageLoad = append(conf.ImageLoad, v)
			case string(EntitlementKeyImage):
				conf.ImagePush = append(conf.ImagePush, v)
				conf.ImageLoad = append(conf.ImageLoad, v)
			case string(EntitlementKeyBuildxLocalDelete):
				return conf, errors.Errorf("%s does not accept a value", EntitlementKeyBuildxLocalDelete)
			default:
				return conf, errors.Errorf("unknown entitlement key %q", k)
			}
		}
	}
	return conf, nil
}
