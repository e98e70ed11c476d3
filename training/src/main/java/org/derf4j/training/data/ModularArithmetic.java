package org.derf4j.training.data;

import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The built-in task that needs no file: {@code a ∘ b mod p} for every pair, the "grokking" task of Power et
 * al. 2022. A fraction of the p² equations is for training, the rest for validation, so validation
 * accuracy measures generalization: exactly where the Derf paper says Derf's gains come from.
 *
 * <p>Each example is the sequence {@code [a, ∘, b, =]} (T = 4) with one target, c, at the last position;
 * the other positions have no target. Tokens 0..p−1 are the numbers, p is ∘ and p+1 is =.
 */
public final class ModularArithmetic implements Dataset {

    public static final int SEQ_LEN = 4;

    /** The operation ∘. */
    public enum Operation {
        ADD("+"), SUB("-"), MUL("*"), DIV("/");

        private final String symbol;

        Operation(String symbol) {
            this.symbol = symbol;
        }

        public String symbol() {
            return symbol;
        }

        public static Operation parse(String s) {
            for (Operation o : values()) {
                if (o.name().equalsIgnoreCase(s) || o.symbol.equals(s)) {
                    return o;
                }
            }
            throw new IllegalArgumentException("unknown operation '" + s + "'; expected add, sub, mul or div");
        }

        int apply(int a, int b, int p) {
            return switch (this) {
                case ADD -> (a + b) % p;
                case SUB -> ((a - b) % p + p) % p;
                case MUL -> (int) ((long) a * b % p);
                case DIV -> (int) ((long) a * inverse(b, p) % p);
            };
        }

        /** b⁻¹ mod p by Fermat's little theorem (p prime). */
        private static int inverse(int b, int p) {
            long result = 1;
            long base = b;
            for (int e = p - 2; e > 0; e >>= 1) {
                if ((e & 1) == 1) {
                    result = result * base % p;
                }
                base = base * base % p;
            }
            return (int) result;
        }
    }

    private final int p;
    private final Operation op;
    private final double trainFraction;
    private final int[][] train; // {a, b}
    private final int[][] val;
    private final Symbols symbols;

    /**
     * All equations of {@code op} modulo the prime {@code p}, shuffled with {@code splitSeed}; the first
     * {@code trainFraction} of them are for training.
     */
    public ModularArithmetic(int p, Operation op, double trainFraction, long splitSeed) {
        if (p < 3 || !isPrime(p)) {
            throw new IllegalArgumentException("modulus p must be a prime ≥ 3, got " + p);
        }
        if (!(trainFraction > 0 && trainFraction < 1)) {
            throw new IllegalArgumentException("training fraction must be in (0, 1), got " + trainFraction);
        }
        this.p = p;
        this.op = op;
        this.trainFraction = trainFraction;
        this.symbols = new Symbols(p, op);
        List<int[]> pairs = new ArrayList<>();
        for (int a = 0; a < p; a++) {
            for (int b = op == Operation.DIV ? 1 : 0; b < p; b++) {
                pairs.add(new int[] {a, b});
            }
        }
        int[] order = new int[pairs.size()];
        Arrays.setAll(order, i -> i);
        new Rng(splitSeed).shuffle(order);
        int nTrain = (int) Math.round(pairs.size() * trainFraction);
        if (nTrain < 1 || nTrain >= pairs.size()) {
            throw new IllegalArgumentException("training fraction " + trainFraction + " of " + pairs.size()
                    + " equations leaves an empty split");
        }
        train = new int[nTrain][];
        val = new int[pairs.size() - nTrain][];
        for (int i = 0; i < order.length; i++) {
            int[] pair = pairs.get(order[i]);
            if (i < nTrain) {
                train[i] = pair;
            } else {
                val[i - nTrain] = pair;
            }
        }
    }

    private static boolean isPrime(int n) {
        for (int d = 2; (long) d * d <= n; d++) {
            if (n % d == 0) {
                return false;
            }
        }
        return n >= 2;
    }

    public int modulus() {
        return p;
    }

    public Operation operation() {
        return op;
    }

    @Override
    public Tokenizer tokenizer() {
        return symbols;
    }

    @Override
    public int seqLen() {
        return SEQ_LEN;
    }

    @Override
    public void trainBatch(Rng rng, int batch, int[] tokens, int[] targets) {
        for (int b = 0; b < batch; b++) {
            example(train[rng.nextInt(train.length)], b, tokens, targets);
        }
    }

    @Override
    public int evalBatches(Split split, int batch) {
        return ((split == Split.TRAIN ? train : val).length + batch - 1) / batch;
    }

    @Override
    public void evalBatch(Split split, int index, int batch, int[] tokens, int[] targets) {
        int[][] set = split == Split.TRAIN ? train : val;
        for (int b = 0; b < batch; b++) {
            int i = index * batch + b;
            if (i < set.length) {
                example(set[i], b, tokens, targets);
            } else {
                Arrays.fill(tokens, b * SEQ_LEN, (b + 1) * SEQ_LEN, 0);
                Arrays.fill(targets, b * SEQ_LEN, (b + 1) * SEQ_LEN, -1);
            }
        }
    }

    private void example(int[] pair, int row, int[] tokens, int[] targets) {
        int o = row * SEQ_LEN;
        tokens[o] = pair[0];
        tokens[o + 1] = symbols.opToken();
        tokens[o + 2] = pair[1];
        tokens[o + 3] = symbols.equalsToken();
        targets[o] = -1;
        targets[o + 1] = -1;
        targets[o + 2] = -1;
        targets[o + 3] = op.apply(pair[0], pair[1], p);
    }

    @Override
    public String describe() {
        return String.format(Locale.ROOT, "a %s b mod %d: %,d train / %,d val equations (%.0f%% for training)",
                op.symbol(), p, train.length, val.length, trainFraction * 100);
    }

    /** The task's tokenizer: numbers 0..p−1, then ∘ and =. Reads "12 + 34 =" or "12+34=". */
    public record Symbols(int p, Operation op) implements Tokenizer {

        int opToken() {
            return p;
        }

        int equalsToken() {
            return p + 1;
        }

        @Override
        public int vocabSize() {
            return p + 2;
        }

        @Override
        public int[] encode(String text) {
            List<Integer> out = new ArrayList<>();
            int i = 0;
            while (i < text.length()) {
                char ch = text.charAt(i);
                if (Character.isWhitespace(ch)) {
                    i++;
                } else if (Character.isDigit(ch)) {
                    int j = i;
                    while (j < text.length() && Character.isDigit(text.charAt(j))) {
                        j++;
                    }
                    int n = Integer.parseInt(text.substring(i, Math.min(j, i + 9)));
                    if (j - i > 9 || n >= p) {
                        throw new IllegalArgumentException("number " + text.substring(i, j) + " is not below p = " + p);
                    }
                    out.add(n);
                    i = j;
                } else if (String.valueOf(ch).equals(op.symbol())) {
                    out.add(opToken());
                    i++;
                } else if (ch == '=') {
                    out.add(equalsToken());
                    i++;
                } else {
                    throw new IllegalArgumentException("character '" + ch + "' is not a number, '" + op.symbol()
                            + "' or '=' (the model computes a " + op.symbol() + " b mod " + p + ")");
                }
            }
            return out.stream().mapToInt(Integer::intValue).toArray();
        }

        @Override
        public String decode(int[] tokens, int from, int to) {
            StringBuilder sb = new StringBuilder();
            for (int i = from; i < to; i++) {
                int t = tokens[i];
                if (sb.length() > 0) {
                    sb.append(' ');
                }
                sb.append(t < p ? Integer.toString(t) : t == opToken() ? op.symbol() : "=");
            }
            return sb.toString();
        }

        @Override
        public String defaultPrompt() {
            return (p / 3) + " " + op.symbol() + " " + (p / 2) + " =";
        }

        @Override
        public JsonObject toJson() {
            JsonObject o = new JsonObject();
            o.addProperty("kind", "modular");
            o.addProperty("p", p);
            o.addProperty("op", op.name().toLowerCase(Locale.ROOT));
            return o;
        }

        static Symbols fromJson(JsonObject o) {
            return new Symbols(o.get("p").getAsInt(), Operation.parse(o.get("op").getAsString()));
        }
    }
}
