// Makes an operator-mode config and a creds file with nats-server's own
// JWT library (github.com/nats-io/jwt/v2, Debian's
// golang-github-nats-io-jwt-dev), for tests/auth_jwt.rs: the config goes to
// stdout, the creds file to the path given as the first argument.
package main

import (
	"fmt"
	"os"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	okp, err := nkeys.CreateOperator()
	check(err)
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "go-operator"
	ojwt, err := oc.Encode(okp)
	check(err)

	akp, err := nkeys.CreateAccount()
	check(err)
	apub, _ := akp.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ac.Name = "go-account"
	ajwt, err := ac.Encode(okp)
	check(err)

	ukp, err := nkeys.CreateUser()
	check(err)
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = "go-user"
	uc.Pub.Allow.Add("go.>")
	uc.Sub.Allow.Add("go.>")
	ujwt, err := uc.Encode(akp)
	check(err)
	seed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, seed)
	check(err)
	check(os.WriteFile(os.Args[1], creds, 0600))

	fmt.Printf("operator: %s\nresolver: MEMORY\nresolver_preload: {\n  %s: %s\n}\n", ojwt, apub, ajwt)
}
