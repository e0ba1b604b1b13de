import java.lang.reflect.Field;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * Starts DynamoDB Local in memory, telemetry off, listening on 127.0.0.1 only.
 *
 * <p>{@code -sharedDb}: one database for every access key and region, so the app, the tests and
 * a developer's AWS CLI (whatever credentials it has) all see the same tables.
 *
 * <p>Usage: {@code java -Djava.library.path=<DynamoDBLocal_lib> -cp <DynamoDBLocal.jar>:<classes> Launcher <port>}
 *
 * <p>DynamoDB Local has no host option: its {@code DynamoDBProxyServer} builds a Jetty
 * {@code new Server(port)}, whose single {@code ServerConnector} listens on every interface.
 * This launcher lets DynamoDB Local build the server from its own command line parser, then
 * reaches into the private {@code server} field and sets the connector host to 127.0.0.1
 * before the connector opens its socket. If that cannot be done, it refuses to start.
 */
public final class Launcher {
    /** The only address the server may listen on. */
    static final String HOST = "127.0.0.1";

    private Launcher() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: Launcher <port>");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(
            new String[] {"-inMemory", "-sharedDb", "-disableTelemetry", "-port", Integer.toString(port)});
        Server jetty = jettyServer(proxy);
        Connector[] connectors = jetty.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local's Jetty server has no connector");
        }
        for (Connector connector : connectors) {
            if (!(connector instanceof ServerConnector)) {
                throw new IllegalStateException("unexpected Jetty connector: " + connector);
            }
            ((ServerConnector) connector).setHost(HOST);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                proxy.stop();
            } catch (Exception e) {
                System.err.println("error stopping DynamoDB Local: " + e);
            }
        }, "dynamodb-local-shutdown"));
        // safeStart() propagates bind errors (start() only prints them and keeps the JVM alive).
        proxy.safeStart();
        for (Connector connector : connectors) {
            ServerConnector sc = (ServerConnector) connector;
            System.out.println("DynamoDB Local listening on http://" + sc.getHost() + ":" + sc.getLocalPort());
        }
        System.out.flush();
        proxy.join();
    }

    /** Returns the Jetty server held in DynamoDBProxyServer's private {@code server} field. */
    private static Server jettyServer(DynamoDBProxyServer proxy) throws ReflectiveOperationException {
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        return (Server) field.get(proxy);
    }
}
