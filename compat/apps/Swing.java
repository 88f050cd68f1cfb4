import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.SwingUtilities;

/** The smallest Swing application: one frame with a label, then the event thread, idle. */
public final class Swing {
    public static void main(String[] args) {
        SwingUtilities.invokeLater(() -> {
            JFrame frame = new JFrame("lifesign compat: Java Swing");
            frame.add(new JLabel("Swing"));
            frame.setSize(200, 100);
            frame.setDefaultCloseOperation(JFrame.EXIT_ON_CLOSE);
            frame.setVisible(true);
        });
    }
}
