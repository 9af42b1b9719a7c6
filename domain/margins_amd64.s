#include "textflag.h"

// func addDenseFMA(acc *float64, row *float32, n int, v float64)
//
// Thirty-two conditions a round (eight registers of four float64s), then
// four, then one at a time: a matcher's conditions are any number. A
// hundred conditions take three rounds of 32 and one of four.
TEXT ·addDenseFMA(SB), NOSPLIT, $0-32
	MOVQ         acc+0(FP), DI
	MOVQ         row+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSD v+24(FP), Y0

thirtytwo:
	CMPQ        CX, $32
	JB          four
	VCVTPS2PD   (SI), Y1
	VCVTPS2PD   16(SI), Y2
	VCVTPS2PD   32(SI), Y3
	VCVTPS2PD   48(SI), Y4
	VCVTPS2PD   64(SI), Y5
	VCVTPS2PD   80(SI), Y6
	VCVTPS2PD   96(SI), Y7
	VCVTPS2PD   112(SI), Y8
	VFMADD213PD (DI), Y0, Y1
	VFMADD213PD 32(DI), Y0, Y2
	VFMADD213PD 64(DI), Y0, Y3
	VFMADD213PD 96(DI), Y0, Y4
	VFMADD213PD 128(DI), Y0, Y5
	VFMADD213PD 160(DI), Y0, Y6
	VFMADD213PD 192(DI), Y0, Y7
	VFMADD213PD 224(DI), Y0, Y8
	VMOVUPD     Y1, (DI)
	VMOVUPD     Y2, 32(DI)
	VMOVUPD     Y3, 64(DI)
	VMOVUPD     Y4, 96(DI)
	VMOVUPD     Y5, 128(DI)
	VMOVUPD     Y6, 160(DI)
	VMOVUPD     Y7, 192(DI)
	VMOVUPD     Y8, 224(DI)
	ADDQ        $128, SI
	ADDQ        $256, DI
	SUBQ        $32, CX
	JMP         thirtytwo

four:
	CMPQ        CX, $4
	JB          one
	VCVTPS2PD   (SI), Y1
	VFMADD213PD (DI), Y0, Y1
	VMOVUPD     Y1, (DI)
	ADDQ        $16, SI
	ADDQ        $32, DI
	SUBQ        $4, CX
	JMP         four

one:
	TESTQ       CX, CX
	JZ          done
	VCVTSS2SD   (SI), X1, X1
	VFMADD213SD (DI), X0, X1
	VMOVSD      X1, (DI)
	ADDQ        $4, SI
	ADDQ        $8, DI
	DECQ        CX
	JMP         one

done:
	VZEROUPPER
	RET
