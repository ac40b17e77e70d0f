package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/remote-buildkit/remote-buildkit/internal/pki"
)

// certsCommand is certs init/upload/rotate: flags in, internal/pki calls out.
func certsCommand() *cli.Command {
	days := []cli.Flag{
		&cli.IntFlag{Name: "ca-days", Value: int(pki.DefaultCAValidity.Hours() / 24), Usage: "validity of a new CA, in days"},
		&cli.IntFlag{Name: "days", Value: int(pki.DefaultValidity.Hours() / 24), Usage: "validity of new server and client certificates, in days"},
	}
	dir := &cli.StringFlag{Name: "dir", Usage: "the `DIR` made by certs init"}
	bucket := []cli.Flag{
		&cli.StringFlag{Name: "bucket", Usage: "the Elastic CI Stack secrets bucket (the plugin's secrets-bucket)"},
		&cli.StringFlag{Name: "prefix", Value: "buildkit", Usage: "key prefix (the plugin's secrets-prefix)"},
		&cli.StringFlag{Name: "pipeline", Usage: "upload for one pipeline only, under `SLUG`/<prefix>/"},
		&cli.StringFlag{Name: "kms-key-id", Usage: "KMS key for SSE-KMS (default: the bucket's aws/s3 key)"},
		&cli.StringFlag{Name: "region", Usage: "the bucket's region (default: AWS_REGION, else us-east-1)"},
	}
	subs := []*cli.Command{{
		Name:  "init",
		Usage: "create a CA, a server certificate and a client certificate in a new directory",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "the new directory `DIR` (daemon/, client/, ca/)"},
			&cli.StringSliceFlag{Name: "server-name", Usage: "DNS name agents connect to (repeatable)"},
			&cli.StringSliceFlag{Name: "ip", Usage: "IP address agents connect to (repeatable)"},
		}, days...),
		Action: func(c *cli.Context) error {
			return pki.Init(pki.InitOptions{Out: c.String("out"), ServerNames: c.StringSlice("server-name"), IPs: c.StringSlice("ip"),
				CAValidity: pki.Days(c.Int("ca-days")), Validity: pki.Days(c.Int("days"))}, time.Now, c.App.Writer)
		},
	}, {
		Name:  "upload",
		Usage: "verify DIR/client and put it into the secrets bucket (SSE-KMS)",
		Flags: append([]cli.Flag{dir}, bucket...),
		Action: func(c *cli.Context) error {
			api, err := pki.NewS3(c.Context, c.String("region"))
			if err != nil {
				return err
			}
			return pki.Upload(c.Context, api, *uploadOptions(c), time.Now(), c.App.Writer)
		},
	}, {
		Name:  "rotate",
		Usage: "issue a new client certificate from DIR/ca (and upload it with --bucket), or rotate the CA",
		Flags: append(append([]cli.Flag{dir,
			&cli.BoolFlag{Name: "new-ca", Usage: "start a CA rotation: new CA, old+new CA bundles, client certificate from the new CA"},
			&cli.BoolFlag{Name: "finish", Usage: "end a CA rotation: new server certificate, the new CA only"},
		}, days...), bucket...),
		Action: func(c *cli.Context) error {
			o := pki.RotateOptions{Dir: c.String("dir"), NewCA: c.Bool("new-ca"), Finish: c.Bool("finish"), CAValidity: pki.Days(c.Int("ca-days")), Validity: pki.Days(c.Int("days"))}
			var api pki.S3Putter
			if c.String("bucket") != "" {
				var err error
				if api, err = pki.NewS3(c.Context, c.String("region")); err != nil {
					return err
				}
				o.Upload = uploadOptions(c)
			}
			return pki.Rotate(c.Context, o, api, time.Now, c.App.Writer)
		},
	}}
	for _, s := range subs {
		s.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return &usageError{err} }
	}
	return &cli.Command{Name: "certs", Usage: "create, upload and rotate the daemon's mTLS certificates", Subcommands: subs, Action: func(c *cli.Context) error {
		if !c.Args().Present() {
			return cli.ShowSubcommandHelp(c)
		}
		return &usageError{fmt.Errorf("unknown command \"certs %s\": the certs commands are init, upload and rotate (remote-buildkit certs --help)", c.Args().First())}
	}}
}

func uploadOptions(c *cli.Context) *pki.UploadOptions {
	return &pki.UploadOptions{Dir: c.String("dir"), Bucket: c.String("bucket"), Prefix: c.String("prefix"), Pipeline: c.String("pipeline"), KMSKeyID: c.String("kms-key-id")}
}
