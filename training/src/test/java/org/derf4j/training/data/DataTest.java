package org.derf4j.training.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class DataTest {

    @ParameterizedTest
    @EnumSource(ModularArithmetic.Operation.class)
    void everyEquationAppearsOnceWithItsResult(ModularArithmetic.Operation op) {
        int p = 7;
        ModularArithmetic task = new ModularArithmetic(p, op, 0.4, 3);
        int[] tokens = new int[4 * 64];
        int[] targets = new int[4 * 64];
        Set<Integer> seen = new HashSet<>();
        for (Dataset.Split split : Dataset.Split.values()) {
            for (int i = 0; i < task.evalBatches(split, 64); i++) {
                task.evalBatch(split, i, 64, tokens, targets);
                for (int row = 0; row < 64; row++) {
                    int o = row * 4;
                    if (targets[o + 3] < 0) {
                        continue;
                    }
                    int a = tokens[o];
                    int b = tokens[o + 2];
                    int c = targets[o + 3];
                    assertEquals(p, tokens[o + 1]);
                    assertEquals(p + 1, tokens[o + 3]);
                    assertEquals(-1, targets[o]);
                    int check = switch (op) {
                        case ADD -> (c - a - b) % p;
                        case SUB -> (c - a + b) % p;
                        case MUL -> (c - a * b) % p;
                        case DIV -> (c * b - a) % p; // c = a / b  ⇔  c·b = a
                    };
                    assertEquals(0, check, a + " " + op.symbol() + " " + b + " = " + c);
                    assertTrue(seen.add(a * p + b), "equation " + a + op.symbol() + b + " appears twice");
                }
            }
        }
        assertEquals(op == ModularArithmetic.Operation.DIV ? p * (p - 1) : p * p, seen.size());
    }

    @Test
    void theSplitAndTheBatchesAreDeterministic() {
        ModularArithmetic a = new ModularArithmetic(97, ModularArithmetic.Operation.ADD, 0.5, 1337);
        ModularArithmetic b = new ModularArithmetic(97, ModularArithmetic.Operation.ADD, 0.5, 1337);
        int[] ta = new int[4 * 32];
        int[] ya = new int[4 * 32];
        int[] tb = new int[4 * 32];
        int[] yb = new int[4 * 32];
        a.trainBatch(new Rng(5), 32, ta, ya);
        b.trainBatch(new Rng(5), 32, tb, yb);
        assertArrayEquals(ta, tb);
        assertArrayEquals(ya, yb);
        assertEquals(4705, a.evalBatches(Dataset.Split.TRAIN, 1));
    }

    @Test
    void tokenizersRoundTripAndNameWhatTheyCannotEncode() {
        Tokenizer symbols = new ModularArithmetic.Symbols(97, ModularArithmetic.Operation.ADD);
        int[] ids = symbols.encode("12+34=");
        assertArrayEquals(new int[] {12, 97, 34, 98}, ids);
        assertEquals("12 + 34 =", symbols.decode(ids, 0, ids.length));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> symbols.encode("100+1=")).getMessage()
                .contains("not below p = 97"));
        CharTokenizer chars = CharTokenizer.of("hello, world");
        assertEquals("low", chars.decode(chars.encode("low"), 0, 3));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> chars.encode("xyz")).getMessage()
                .contains("'x'"));
        assertEquals(chars.vocabSize(), ((CharTokenizer) Tokenizer.fromJson(chars.toJson())).vocabSize());
    }

    @Test
    void rngStateResumesTheSameSequence() {
        Rng a = new Rng(42);
        for (int i = 0; i < 10; i++) {
            a.nextLong();
        }
        Rng b = new Rng(a.state());
        for (int i = 0; i < 100; i++) {
            assertEquals(a.nextInt(1000), b.nextInt(1000));
        }
    }
}
