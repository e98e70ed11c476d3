package org.derf4j.transformer;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonWriter;
import java.io.IOException;
import org.derf4j.kernels.Norm;

/** The one Gson of configs and checkpoints: it writes a {@link Norm} as its id ({@code "derf"}) and parses it back. */
public final class Json {
    private Json() {
    }

    public static final Gson GSON = new GsonBuilder().registerTypeHierarchyAdapter(Norm.class, new TypeAdapter<Norm>() {
        @Override
        public void write(JsonWriter out, Norm norm) throws IOException {
            out.value(norm == null ? null : norm.id());
        }

        @Override
        public Norm read(JsonReader in) throws IOException {
            return Norm.parse(in.nextString());
        }
    }).create();
}
