// One translation unit, so each architecture is a single PTX module.
#include "elementwise.cu"
#include "attention.cu"
#include "lora.cu"
