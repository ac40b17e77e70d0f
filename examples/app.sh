#!/bin/sh
echo "@GREETING@ from @PLATFORM@"
